"""Provider events signed in the test with throwaway keys, as each provider signs them.

- `SnsSigner`: an RSA key and its self-signed certificate (serve `cert_pem` and point
  `SigningCertURL` at it); `notification()` / `subscription()` build SNS messages signed with
  SignatureVersion 1 (SHA1withRSA) or 2 (SHA256withRSA).
- `SendgridSigner`: an ECDSA P-256 key; `public_key` is the base64 DER SendGrid shows;
  `headers(body)` are the `X-Twilio-Email-Event-Webhook-*` headers.
- `mailgun_signature(key)`: Mailgun's `signature` object (HMAC-SHA256 of timestamp+token).
"""

import base64
import datetime
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from iep_appliance.services.provider_signatures import sns_string_to_sign

TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"


class SnsSigner:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.test")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM)

    def sign(self, message: dict[str, Any], version: str = "2") -> dict[str, Any]:
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()
        data = sns_string_to_sign(message)
        signature = self.key.sign(data, padding.PKCS1v15(), algorithm)
        return {**message, "SignatureVersion": version,
                "Signature": base64.b64encode(signature).decode()}  # fmt: skip

    def notification(
        self, ses_event: dict[str, Any], cert_url: str, version: str = "2", **extra: Any
    ) -> dict[str, Any]:
        message = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": TOPIC,
            "Message": json.dumps(ses_event),
            "Timestamp": "2026-12-02T06:00:00.000Z",
            "SigningCertURL": cert_url,
            **extra,
        }
        return self.sign(message, version)

    def subscription(self, subscribe_url: str, cert_url: str) -> dict[str, Any]:
        message = {
            "Type": "SubscriptionConfirmation",
            "MessageId": str(uuid.uuid4()),
            "Token": "tok" + uuid.uuid4().hex,
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe to the topic.",
            "SubscribeURL": subscribe_url,
            "Timestamp": "2026-12-02T06:00:00.000Z",
            "SigningCertURL": cert_url,
        }
        return self.sign(message, "1")


def ses_event(kind: str, message_id: str, recipient: str, **detail: Any) -> dict[str, Any]:
    """An SES event-publishing record naming the IEP message by its `iep_message_id` tag."""
    mail = {
        "messageId": "ses-" + uuid.uuid4().hex,
        "destination": [recipient],
        "tags": {"iep_message_id": [message_id]},
    }
    body: dict[str, Any] = {"eventType": kind, "mail": mail}
    if kind == "Delivery":
        body["delivery"] = {"recipients": [recipient], "smtpResponse": "250 ok"}
    elif kind == "Bounce":
        body["bounce"] = {
            "bounceType": detail.get("bounce_type", "Permanent"),
            "bouncedRecipients": [
                {"emailAddress": recipient, "status": detail.get("status", "5.1.1"),
                 "diagnosticCode": "smtp; 550 5.1.1 user unknown", "action": "failed"}
            ],
        }  # fmt: skip
    elif kind == "Complaint":
        body["complaint"] = {"complainedRecipients": [{"emailAddress": recipient}]}
    elif kind == "Click":
        body["click"] = {"link": "https://example.com/x"}
    return body


class SendgridSigner:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: str | None = None) -> dict[str, str]:
        ts = timestamp or str(int(time.time()))
        sig = self.key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": ts,
            "Content-Type": "application/json",
        }


def mailgun_signature(key: str, token: str | None = None, timestamp: int | None = None) -> dict:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    tok = token or uuid.uuid4().hex
    sig = hmac.new(key.encode(), f"{ts}{tok}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": ts, "token": tok, "signature": sig}
