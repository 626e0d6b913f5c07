"""The `sendgrid` provider: SendGrid v3 `POST /v3/mail/send`.

v3 takes no raw MIME, so the message IEP built is read back into its JSON: from, reply_to,
subject, the text and html bodies, attachments (inline ones with their content id), the
custom headers SendGrid allows (X-*, List-Unsubscribe…), and one personalization whose to/cc
are the header recipients among the envelope's and whose bcc is the rest. `custom_args`
carries the IEP message id, so the Event Webhook names it. 202 + `X-Message-Id` is the
provider message id. `probe()` is `GET /v3/scopes`.
"""

import base64
import email
import email.policy
import email.utils
from email.message import EmailMessage
from typing import Any

import httpx
import msgspec

from iep_appliance.config_providers import SendgridProviderConfig
from iep_appliance.delivery.providers.base import Envelope
from iep_appliance.delivery.providers.http_base import HttpProvider

MESSAGE_ARG = "iep_message_id"
DEFAULT_BASE = "https://api.sendgrid.com"
# Headers SendGrid sets itself or refuses in `headers` (its "reserved" list, and what v3 has a
# field for).
_RESERVED = {
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "reply-to",
    "content-type",
    "content-transfer-encoding",
    "mime-version",
    "date",
    "dkim-signature",
    "received",
    "return-path",
    "x-sg-id",
    "x-sg-eid",
    "message-id",
    "sender",
}


def _addresses(values: list[str]) -> list[tuple[str, str]]:
    return [(n, a) for n, a in email.utils.getaddresses(values) if a]


def _person(name: str, address: str) -> dict[str, str]:
    return {"email": address, "name": name} if name else {"email": address}


def mail_send_body(envelope: Envelope, mime: bytes) -> dict[str, Any]:
    """The v3 mail/send JSON for one MIME message; ValueError when it cannot be expressed."""
    msg = email.message_from_bytes(mime, policy=email.policy.default)
    if not isinstance(msg, EmailMessage):  # pragma: no cover - policy.default gives this
        raise ValueError("unreadable message")
    senders = _addresses([str(msg.get("From", ""))])
    if not senders:
        raise ValueError("the message has no From address")
    envelope_rcpts = {r.lower(): r for r in envelope.rcpt_to}
    seen: set[str] = set()

    def pick(header: str) -> list[dict[str, str]]:
        out = []
        for n, a in _addresses([str(v) for v in msg.get_all(header, [])]):
            if a.lower() in envelope_rcpts and a.lower() not in seen:
                seen.add(a.lower())
                out.append(_person(n, a))
        return out

    to, cc = pick("To"), pick("Cc")
    bcc = [{"email": r} for k, r in envelope_rcpts.items() if k not in seen]
    if not to:
        to, bcc = bcc[:1], bcc[1:]
    if not to:
        raise ValueError("the message has no recipient")
    personalization: dict[str, Any] = {"to": to}
    if cc:
        personalization["cc"] = cc
    if bcc:
        personalization["bcc"] = bcc
    body: dict[str, Any] = {
        "personalizations": [personalization],
        "from": _person(*senders[0]),
        "subject": str(msg.get("Subject", "")) or " ",
        "custom_args": {MESSAGE_ARG: envelope.message_id},
    }
    reply = _addresses([str(v) for v in msg.get_all("Reply-To", [])])
    if reply:
        body["reply_to"] = _person(*reply[0])
    headers = {
        k: str(v).replace("\r", "").replace("\n", "")
        for k, v in msg.items()
        if k.lower() not in _RESERVED
    }
    if headers:
        body["headers"] = headers
    content, attachments = _parts(msg)
    body["content"] = content or [{"type": "text/plain", "value": " "}]
    if attachments:
        body["attachments"] = attachments
    return body


def _parts(msg: EmailMessage) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    text = html = None
    attachments: list[dict[str, str]] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        disposition = part.get_content_disposition()
        if disposition is None and kind == "text/plain" and text is None:
            text = part.get_content()
        elif disposition is None and kind == "text/html" and html is None:
            html = part.get_content()
        else:
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                payload = b""
            item = {
                "content": base64.b64encode(payload).decode("ascii"),
                "type": kind,
                "filename": part.get_filename() or "attachment",
                "disposition": "inline" if disposition == "inline" else "attachment",
            }
            cid = str(part.get("Content-ID", "")).strip("<> ")
            if cid:
                item["content_id"] = cid
            attachments.append(item)
    content = []
    if text is not None:
        content.append({"type": "text/plain", "value": text})
    if html is not None:
        content.append({"type": "text/html", "value": html})
    return content, attachments


class SendgridProvider(HttpProvider):
    kind = "sendgrid"

    def __init__(
        self, name: str, cfg: SendgridProviderConfig, client: httpx.AsyncClient | None = None
    ) -> None:
        super().__init__(name, cfg, client)
        self.base = (cfg.endpoint_url or DEFAULT_BASE).rstrip("/")
        self._auth = {"Authorization": f"Bearer {cfg.api_key}"}

    def request(self, envelope: Envelope, mime: bytes) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.base + "/v3/mail/send",
            content=msgspec.json.encode(mail_send_body(envelope, mime)),
            headers={**self._auth, "Content-Type": "application/json"},
        )

    def message_id(self, response: httpx.Response, body: Any) -> str | None:
        found = response.headers.get("x-message-id")
        return found[:200] if found else None

    def probe_requests(self) -> list[httpx.Request]:
        return [httpx.Request("GET", self.base + "/v3/scopes", headers=self._auth)]


def build(name: str, cfg: SendgridProviderConfig, parts: Any = None) -> SendgridProvider:
    return SendgridProvider(name, cfg, getattr(parts, "http_client", None))
