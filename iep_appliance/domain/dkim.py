"""DKIM signatures (RFC 6376; Ed25519 per RFC 8463) over finished message bytes, and the TXT
record that publishes a key.

Pure: the signing time comes in as an argument. dkimpy does the parts where a receiver and a
signer must agree byte for byte (header parsing and selection, relaxed canonicalization, the
hash of the headers); the private-key operation runs in OpenSSL (`cryptography`), because
dkimpy's pure-Python RSA costs ~7 ms a message, which would cap delivery near 140/s. Both RSA
PKCS#1 v1.5 and Ed25519 are deterministic, so the same input gives the same signature.
"""

import base64
import hashlib
import re
from typing import Any

import dkim
import msgspec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.canonicalization import CanonicalizationPolicy

__all__ = [
    "SIGNED_HEADERS",
    "DkimSigningKey",
    "canonical_body",
    "canonical_headers",
    "load_private_key",
    "parse_message",
    "public_value",
    "sign",
    "txt_record",
]

# DESIGN §10.3: From, To, Cc, Subject, Date, Message-ID, the MIME headers and the unsubscribe
# pair (+ Reply-To). Only those present are listed in h=.
SIGNED_HEADERS: tuple[bytes, ...] = (
    b"from",
    b"to",
    b"cc",
    b"reply-to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)
_POLICY = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
_NAME = b"DKIM-Signature"
_ALGORITHMS = {"rsa": b"rsa-sha256", "ed25519": b"ed25519-sha256"}
_HEADER_NAME = re.compile(rb"([\x21-\x7e]+?):")
_TRAILING_WSP = re.compile(rb"[\t ]+\r\n")
_LINE_BREAK = re.compile(rb"\r?\n")
_WSP_RUN = re.compile(rb"[\t ]{2,}|\t")  # a lone space is already its own canonical form


class DkimSigningKey(msgspec.Struct, frozen=True):
    """A loaded private key: `private` is a cryptography RSA or Ed25519 private key object."""

    domain: str
    selector: str
    algorithm: str  # "rsa" | "ed25519"
    private: Any


def load_private_key(algorithm: str, pem: bytes) -> Any:
    """Parse a PKCS#8 PEM private key of `algorithm`. Raises ValueError on anything else."""
    key = serialization.load_pem_private_key(pem, password=None)
    want = rsa.RSAPrivateKey if algorithm == "rsa" else ed25519.Ed25519PrivateKey
    if not isinstance(key, want):
        raise ValueError(f"not an {algorithm} private key")
    return key


def public_value(private: Any) -> str:
    """The p= value: base64 SubjectPublicKeyInfo for RSA, the raw 32 bytes for Ed25519."""
    pub = private.public_key()
    if isinstance(private, ed25519.Ed25519PrivateKey):
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raw = pub.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return base64.b64encode(raw).decode("ascii")


def txt_record(algorithm: str, public: str) -> str:
    """The TXT value to publish at `<selector>._domainkey.<domain>`."""
    return f"v=DKIM1; k={algorithm}; p={public}"


def sign(message: bytes, key: DkimSigningKey, timestamp: int) -> bytes:
    """`message` with a DKIM-Signature header (relaxed/relaxed) prepended.

    Args:
        message: the finished RFC 5322 bytes (CRLF line ends).
        key: the domain's active key.
        timestamp: the t= tag, seconds since the epoch.
    """
    headers, body = parse_message(message)
    present = {name.lower() for name, _ in headers}
    include = [h for h in SIGNED_HEADERS if h in present]
    body_hash = base64.b64encode(hashlib.sha256(canonical_body(body)).digest())
    fields = [
        (b"v", b"1"),
        (b"a", _ALGORITHMS[key.algorithm]),
        (b"c", b"relaxed/relaxed"),
        (b"d", key.domain.encode("ascii")),
        (b"s", key.selector.encode("ascii")),
        (b"t", str(timestamp).encode("ascii")),
        (b"h", b" : ".join(include)),
        (b"bh", body_hash),
    ]
    head: bytes = dkim.fold(b"; ".join(b"=".join(f) for f in fields) + b"; b=", namelen=len(_NAME))
    hasher = hashlib.sha256()
    dkim.hash_headers(
        hasher, _POLICY, canonical_headers(headers), include, (_NAME, b" " + head), None
    )
    digest = hasher.digest()
    if key.algorithm == "rsa":
        signature = key.private.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    else:  # RFC 8463 §3: Ed25519 over the SHA-256 hash of the canonicalized headers
        signature = key.private.sign(digest)
    b64 = base64.b64encode(signature)
    # b= on lines of its own: relaxed canonicalization and b= removal make folding harmless.
    folded = b"\r\n ".join(b64[i : i + 72] for i in range(0, len(b64), 72))
    return _NAME + b": " + head + b"\r\n " + folded + b"\r\n" + message


def parse_message(message: bytes) -> tuple[list[list[bytes]], bytes]:
    """`dkim.rfc822_parse(message)`, without its split of the whole message into lines.

    For what IEP signs (CRLF line ends only, a header block, a blank line) the header lines
    are split here and the body is the rest as it stands; anything else (a bare LF, no body,
    a leading blank line, a header line dkimpy would reject or skip) goes to dkimpy itself,
    so the result is always dkimpy's.
    """
    end = message.find(b"\r\n\r\n")
    if end <= 0 or message.count(b"\n") != message.count(b"\r\n"):
        return dkim.rfc822_parse(message)  # type: ignore[no-any-return]
    headers: list[list[bytes]] = []
    for line in message[:end].split(b"\r\n"):
        if line[:1] in (b"\t", b" ") and headers:
            headers[-1][1] += line + b"\r\n"
            continue
        found = _HEADER_NAME.match(line)
        if found is None:
            return dkim.rfc822_parse(message)  # type: ignore[no-any-return]
        headers.append([found.group(1), line[found.end() :] + b"\r\n"])
    return headers, message[end + 4 :]


def canonical_headers(headers: list[list[bytes]]) -> list[tuple[bytes, bytes]]:
    """The relaxed header canonicalization (RFC 6376 §3.4.2), byte for byte dkimpy's: names
    lower-cased, values unfolded, runs of whitespace one space, the ends stripped."""
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if b"\n" in value:
            value = _LINE_BREAK.sub(b"", value)
        if b"\t" in value or b"  " in value:
            value = _WSP_RUN.sub(b" ", value)
        out.append((name.lower().rstrip(), value.strip() + b"\r\n"))
    return out


def canonical_body(body: bytes) -> bytes:
    """The relaxed body canonicalization (RFC 6376 §3.4.4), byte for byte dkimpy's.

    dkimpy's substitution rewrites every run of spaces, single spaces included (~130 µs for a
    5 KB message); here a pass runs only where the body has something it would change, and
    the whitespace pass matches only runs it changes (a tab, or two or more).
    """
    if b" \r\n" in body or b"\t\r\n" in body:
        body = _TRAILING_WSP.sub(b"\r\n", body)
    if b"\t" in body or b"  " in body:
        body = _WSP_RUN.sub(b" ", body)
    # Empty lines at the end go; a non-empty body ends with one CRLF; an empty one is empty.
    end = len(body)
    while body.endswith(b"\r\n", 0, end):
        end -= 2
    if end == len(body):
        return body + b"\r\n" if body else b""
    return body[: end + 2] if end else b""
