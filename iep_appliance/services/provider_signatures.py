"""Each provider's own proof that an event came from it (DESIGN §10.4), via `cryptography`.

- SNS (SES events): signature v1 (SHA1withRSA) or v2 (SHA256withRSA) over the canonical
  string of the message's fields, with the public key of the X.509 certificate at
  `SigningCertURL` — fetched only when the URL matches the provider's `sns_cert_url_pattern`.
- SendGrid: ECDSA P-256/SHA-256 over `timestamp + body` (headers
  `X-Twilio-Email-Event-Webhook-Signature` / `-Timestamp`), the Event Webhook's public key.
- Mailgun: HMAC-SHA256 of `timestamp + token` under the webhook signing key; a timestamp too
  old is refused (the caller refuses a token seen before).

A failure raises `Unverified` with the reason (the caller answers 401 and records nothing).
"""

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

MAILGUN_MAX_AGE_SECONDS = 15 * 60
_SNS_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
}  # fmt: skip


class Unverified(Exception):
    """The event does not prove where it came from."""


def sns_string_to_sign(message: dict[str, Any]) -> bytes:
    kind = message.get("Type")
    fields = _SNS_FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise Unverified(f"unknown SNS message type {kind!r}")
    out = []
    for name in fields:
        value = message.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise Unverified(f"SNS field {name} is missing")
        out.append(f"{name}\n{value}\n")
    return "".join(out).encode("utf-8")


class SnsVerifier:
    """Verifies SNS messages; certificates are fetched once per URL (`fetch` does the GET)."""

    def __init__(self, fetch: Callable[[str], Awaitable[bytes]], max_cached: int = 32) -> None:
        self._fetch = fetch
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._max = max_cached

    async def verify(self, message: dict[str, Any], cert_url_pattern: str) -> None:
        url = message.get("SigningCertURL") or message.get("SigningCertUrl")
        if not isinstance(url, str) or not re.match(cert_url_pattern, url):
            raise Unverified("SigningCertURL does not match the allowed certificate URL pattern")
        version = message.get("SignatureVersion")
        algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(str(version))
        if algorithm is None:
            raise Unverified(f"unsupported SignatureVersion {version!r}")
        try:
            signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        except (binascii.Error, ValueError):
            raise Unverified("Signature is not base64") from None
        data = sns_string_to_sign(message)
        key = await self._key(url)
        try:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        except InvalidSignature:
            raise Unverified("SNS signature does not verify") from None

    async def _key(self, url: str) -> rsa.RSAPublicKey:
        key = self._keys.get(url)
        if key is not None:
            return key
        try:
            pem = await self._fetch(url)
            cert = x509.load_pem_x509_certificate(pem)
        except Exception as exc:  # unreachable URL, not a certificate: unverified, never 500
            raise Unverified(
                f"cannot read the signing certificate ({type(exc).__name__})"
            ) from None
        public = cert.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            raise Unverified("the signing certificate's key is not RSA")
        if len(self._keys) >= self._max:
            self._keys.pop(next(iter(self._keys)))
        self._keys[url] = public
        return public


def load_ecdsa_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key as it shows it (base64 DER), or PEM."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text))
    except (ValueError, binascii.Error, TypeError):
        raise Unverified("the configured webhook_public_key is not a public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Unverified("the configured webhook_public_key is not an ECDSA key")
    return key


def verify_sendgrid(public_key: str, signature: str, timestamp: str, body: bytes) -> None:
    if not public_key:
        raise Unverified("no webhook_public_key is configured")
    if not signature or not timestamp:
        raise Unverified("the signature headers are missing")
    key = load_ecdsa_public_key(public_key)
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise Unverified("SendGrid signature does not verify") from None


def verify_mailgun(signing_key: str, signature: Any, now: float) -> str:
    """Check a Mailgun `signature` object; returns its token (the caller refuses a replay)."""
    if not signing_key:
        raise Unverified("no webhook signing key is configured")
    if not isinstance(signature, dict):
        raise Unverified("the signature object is missing")
    timestamp, token, given = (signature.get(k) for k in ("timestamp", "token", "signature"))
    if not all(isinstance(v, str) and v for v in (timestamp, token, given)):
        raise Unverified("signature.timestamp, token and signature are required")
    expected = hmac.new(
        signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, str(given)):
        raise Unverified("Mailgun signature does not verify")
    try:
        age = now - float(str(timestamp))
    except ValueError:
        raise Unverified("signature.timestamp is not a number") from None
    if abs(age) > MAILGUN_MAX_AGE_SECONDS:
        raise Unverified("signature.timestamp is too old")
    return str(token)
