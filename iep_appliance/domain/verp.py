"""Signed tokens that travel in addresses and URLs (DESIGN §10): the VERP envelope sender
`bounce+<token>@<bounce_domain>` and the unsubscribe token of `/u/<token>` and
`unsubscribe+<token>@<bounce_domain>`.

A token is the message id (16 bytes of its UUID), for unsubscribe also the recipient's index,
and an HMAC-SHA256 tag (10 bytes) under a key derived from the master key for that purpose,
in lower-case base32 without padding: MTAs may fold local parts to lower case, and the whole
address stays under the 64 characters RFC 5321 §4.5.3.1.1 allows a local part. Pure.
"""

import base64
import hmac
import uuid
from hashlib import sha256

_TAG = 10
BOUNCE_PREFIX = "bounce+"
UNSUBSCRIBE_PREFIX = "unsubscribe+"
FBL_LOCAL = "fbl"


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _unb32(text: str) -> bytes | None:
    text = text.strip().upper()
    if not text or len(text) > 80 or not text.isalnum():
        return None
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError:
        return None
    # Canonical form only: the last character's spare bits cannot be changed unnoticed.
    return raw if _b32(raw) == text.lower() else None


def _tag(key: bytes, purpose: bytes, body: bytes) -> bytes:
    return hmac.new(key, purpose + body, sha256).digest()[:_TAG]


def bounce_token(key: bytes, message_id: str) -> str:
    body = uuid.UUID(message_id).bytes
    return _b32(body + _tag(key, b"bounce:", body))


def read_bounce_token(key: bytes, token: str) -> str | None:
    """The message id a genuine token names; None for anything forged, cut or altered."""
    body = _genuine_body(key, token, b"bounce:", 16)
    return None if body is None else str(uuid.UUID(bytes=body))


def unsubscribe_token(key: bytes, message_id: str, recipient_index: int) -> str:
    body = uuid.UUID(message_id).bytes + bytes([recipient_index & 0xFF])
    return _b32(body + _tag(key, b"unsubscribe:", body))


def read_unsubscribe_token(key: bytes, token: str) -> tuple[str, int] | None:
    """(message id, recipient index) of a genuine token, else None."""
    body = _genuine_body(key, token, b"unsubscribe:", 17)
    return None if body is None else (str(uuid.UUID(bytes=body[:16])), body[16])


def _genuine_body(key: bytes, token: str, purpose: bytes, size: int) -> bytes | None:
    """The `size` bytes a token carries when its tag is genuine for `purpose`, else None."""
    raw = _unb32(token)
    if raw is None or len(raw) != size + _TAG:
        return None
    body, tag = raw[:size], raw[size:]
    return body if hmac.compare_digest(tag, _tag(key, purpose, body)) else None


def bounce_address(key: bytes, message_id: str, bounce_domain: str) -> str:
    return f"{BOUNCE_PREFIX}{bounce_token(key, message_id)}@{bounce_domain}"


def classify_rcpt(address: str, bounce_domain: str) -> tuple[str, str] | None:
    """("bounce" | "unsubscribe" | "fbl", token) for an address the inbound listener takes;
    None for any other (refused at RCPT)."""
    local, _, domain = address.strip().strip("<>").rpartition("@")
    if not bounce_domain or domain.lower() != bounce_domain.lower():
        return None
    low = local.lower()
    if low == FBL_LOCAL:
        return "fbl", ""
    if low.startswith(BOUNCE_PREFIX):
        return "bounce", low[len(BOUNCE_PREFIX) :]
    if low.startswith(UNSUBSCRIBE_PREFIX):
        return "unsubscribe", low[len(UNSUBSCRIBE_PREFIX) :]
    return None


def list_unsubscribe_headers(
    key: bytes, message_id: str, public_url: str, bounce_domain: str
) -> bytes:
    """RFC 2369 List-Unsubscribe (HTTPS link and, with a bounce domain, the mailto form) and
    RFC 8058 List-Unsubscribe-Post, for the message's first recipient, as header lines."""
    token = unsubscribe_token(key, message_id, 0)
    targets = [f"<{public_url.rstrip('/')}/u/{token}>"]
    if bounce_domain:
        targets.append(f"<mailto:{UNSUBSCRIBE_PREFIX}{token}@{bounce_domain}>")
    value = ",\r\n ".join(targets)
    return (
        f"List-Unsubscribe: {value}\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    ).encode("ascii")
