"""Webhook secrets and request signatures (DESIGN §4 "Webhook delivery").

Every request is signed two ways: `x-iep-signature: sha256=<hex>` keyed with the whole secret
string, and the Standard Webhooks headers keyed with the base64 part of `whsec_<base64 key>`.
During rotation several secrets sign at once. Pure: randomness and time come in as arguments.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

__all__ = ["SECRET_PREFIX", "make_secret", "secret_key", "sign", "verify_iep_signature"]

SECRET_PREFIX = "whsec_"


def make_secret(random_bytes: bytes) -> str:
    """`whsec_<base64>` from 24 to 32 bytes the caller drew from `secrets.token_bytes`."""
    if not 24 <= len(random_bytes) <= 32:
        raise ValueError(f"a webhook secret needs 24 to 32 random bytes, got {len(random_bytes)}")
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The Standard Webhooks HMAC key: the base64-decoded part after `whsec_`."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("webhook secret is not whsec_<base64>") from exc
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def _iep_digest(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def sign(secrets: Sequence[str], webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Signature headers for one delivery attempt, one signature per secret in each header.

    `webhook_id` stays the same for every retry of one event; `timestamp` is Unix seconds.
    """
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    signed_content = f"{webhook_id}.{timestamp}.".encode() + body
    standard = [
        "v1," + base64.b64encode(hmac.digest(secret_key(s), signed_content, "sha256")).decode()
        for s in secrets
    ]
    return {
        "x-iep-signature": ",".join(f"sha256={_iep_digest(s, body)}" for s in secrets),
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(standard),
    }


def verify_iep_signature(secret: str, body: bytes, header: str) -> bool:
    """True if any `sha256=<hex>` entry of an `x-iep-signature` header matches `secret`."""
    expected = _iep_digest(secret, body).encode("ascii")
    found = False
    for entry in header.split(","):
        scheme, _, value = entry.strip().partition("=")
        if scheme == "sha256" and hmac.compare_digest(
            value.strip().lower().encode("utf-8", "replace"), expected
        ):
            found = True  # no early return: the time taken does not depend on which entry matched
    return found
