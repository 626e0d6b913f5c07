"""The Resend-compatible API (DESIGN §10.2): Resend's bodies and answers, mapped to IEP's. Pure.

A Resend email (snake_case: `from`, `to` as a string or a list, `reply_to`, `html`, `text`,
`tags`, `attachments` with base64 or byte-list `content`, `scheduled_at`) becomes the same
`SendRequest` that POST /v1/messages takes, so every rule of the pipeline applies to it. Field
errors of that pipeline are renamed back to Resend's field names for the error answer
`{statusCode, message, name}`. Read answers are Resend's email object; webhook bodies are
Resend's events (`email.sent`, …) for endpoints created with `format: "resend"`.
"""

import re
from typing import Any

import msgspec

from iep_appliance.domain.compat_common import (
    address_list,
    bytes_to_base64,
    guess_type,
    header_problem,
    mailbox,
    send_request,
    unliteral,
)
from iep_appliance.domain.errors import FieldError, ValidationFailed
from iep_appliance.domain.models import AttachmentIn, MessageRecord, SendRequest

MAX_TO = 50
MAX_BATCH = 100
_TAG = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ResendAttachment(msgspec.Struct, frozen=True):
    filename: str | None = None
    content: str | list[int] | None = None
    path: str | None = None
    content_type: str | None = None
    content_id: str | None = None
    inline_content_id: str | None = None


class ResendTag(msgspec.Struct, frozen=True):
    name: str
    value: str | None = None


class ResendEmail(msgspec.Struct, frozen=True):
    """One email as Resend's POST /emails takes it (unknown members are ignored, as there)."""

    from_: str | None = msgspec.field(name="from", default=None)
    to: str | list[str] | None = None
    subject: str | None = None
    cc: str | list[str] | None = None
    bcc: str | list[str] | None = None
    reply_to: str | list[str] | None = None
    html: str | None = None
    text: str | None = None
    headers: dict[str, str] = {}
    attachments: list[ResendAttachment] = []
    tags: list[ResendTag] = []
    scheduled_at: str | None = None
    template: dict[str, Any] | None = None


class ResendUpdate(msgspec.Struct, frozen=True):
    """PATCH /emails/{id}: the SDK sends the id in the body too."""

    id: str | None = None
    scheduled_at: str | None = None


# IEP's field paths → Resend's (for error messages).
_FIELD_NAMES = {
    "from.email": "from",
    "from.name": "from",
    "replyTo": "reply_to",
    "htmlBody": "html",
    "textBody": "text",
    "scheduledAt": "scheduled_at",
    "metadata.category": "tags",
    "metadata.tags": "tags",
    "idempotencyKey": "Idempotency-Key",
}


def resend_field(path: str) -> str:
    """`attachments[0].contentType` → `attachments[0].content_type`, `htmlBody` → `html`."""
    prefix, dot, rest = path.partition("].")
    if dot and prefix.startswith("["):  # a batch entry: `[3].to[0]`
        return f"{prefix}].{resend_field(rest)}"
    if path in _FIELD_NAMES:
        return _FIELD_NAMES[path]
    return path.replace("contentType", "content_type")


def to_send_request(email: ResendEmail, prefix: str = "") -> SendRequest:
    """The IEP send of one Resend email. Raises ValidationFailed naming Resend's fields;
    a missing required member's message is exactly "is required"."""
    errors: list[FieldError] = []
    for name in ("from", "to", "subject"):
        value = email.from_ if name == "from" else getattr(email, name)
        if value is None or (isinstance(value, str | list) and not value):
            errors.append(FieldError(prefix + name, "is required"))
    if email.html is None and email.text is None and email.template is None:
        errors.append(FieldError(prefix + "html", "is required"))
    if email.template is not None:
        errors.append(FieldError(prefix + "template", "templates are not supported here"))
    to = address_list(email.to)
    if len(to) > MAX_TO:
        errors.append(FieldError(prefix + "to", f"at most {MAX_TO} recipients"))
    reply_to = address_list(email.reply_to)
    if len(reply_to) > 1:
        errors.append(FieldError(prefix + "reply_to", "at most one address is supported"))
    metadata = _tags_metadata(email.tags, prefix, errors)
    if email.headers:
        _check_headers(email.headers, prefix, errors)
        metadata["headers"] = dict(email.headers)
    attachments = [_attachment(a, f"{prefix}attachments[{i}]", errors)
                   for i, a in enumerate(email.attachments)]  # fmt: skip
    if errors:
        raise ValidationFailed(errors)
    return send_request(
        email.from_,
        email.subject,
        (email.html, email.text),
        (to, address_list(email.cc), address_list(email.bcc)),
        reply_to,
        [a for a in attachments if a is not None],
        metadata,
        scheduled_at=email.scheduled_at,
    )


def _tags_metadata(tags: list[ResendTag], prefix: str, errors: list[FieldError]) -> dict[str, Any]:
    if not tags:
        return {}
    out: list[str] = []
    category = None
    for i, tag in enumerate(tags):
        if not _TAG.match(tag.name) or (tag.value is not None and not _TAG.match(tag.value)):
            errors.append(
                FieldError(
                    f"{prefix}tags[{i}]",
                    "name and value may only contain ASCII letters, numbers, underscores"
                    " and dashes, at most 256 characters",
                )
            )
            continue
        out.append(f"{tag.name}:{tag.value}" if tag.value is not None else tag.name)
        if tag.name == "category" and tag.value:
            category = tag.value
    metadata: dict[str, Any] = {"tags": out}
    if category:
        metadata["category"] = category
    return metadata


def _check_headers(headers: dict[str, str], prefix: str, errors: list[FieldError]) -> None:
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem is not None:
            errors.append(FieldError(f"{prefix}headers.{name}", problem))


def _attachment(a: ResendAttachment, path: str, errors: list[FieldError]) -> AttachmentIn | None:
    if a.path is not None and a.content is None:
        errors.append(FieldError(f"{path}.path", "remote attachments are not supported"))
        return None
    if a.content is None:
        errors.append(FieldError(f"{path}.content", "is required"))
        return None
    if not a.filename:
        errors.append(FieldError(f"{path}.filename", "is required"))
        return None
    try:
        content = bytes_to_base64(a.content)
    except ValueError as exc:
        errors.append(FieldError(f"{path}.content", str(exc)))
        return None
    return AttachmentIn(
        filename=a.filename,
        content=content,
        content_type=a.content_type or guess_type(a.filename),
    )


# ---- answers ----------------------------------------------------------------------------------

# IEP message status → Resend's `last_event`; later engagement events take precedence.
_LAST_EVENT = {
    "scheduled": "scheduled",
    "queued": "queued",
    "processing": "queued",
    "sent": "sent",
    "failed": "failed",
    "bounced": "bounced",
    "cancelled": "canceled",
}
_EVENT_LAST = {
    "delivered": "delivered",
    "opened": "opened",
    "clicked": "clicked",
    "complained": "complained",
    "bounced": "bounced",
}


def last_event(record: MessageRecord) -> str:
    for ev in reversed(record.events):
        if ev.type in _EVENT_LAST:
            return _EVENT_LAST[ev.type]
    return _LAST_EVENT.get(record.status, record.status)


def email_object(record: MessageRecord) -> dict[str, Any]:
    """Resend's email object (GET /emails/{id}, and each item of GET /emails)."""
    tags = []
    for tag in record.metadata.get("tags") or []:
        if isinstance(tag, str):
            name, sep, value = tag.partition(":")
            tags.append({"name": name, "value": value} if sep else {"name": name})
    return {
        "object": "email",
        "id": record.id,
        "to": list(record.to),
        "from": mailbox(record.from_email, record.from_name),
        "created_at": record.created_at,
        "subject": unliteral(record.subject),
        "html": unliteral(record.html_body),
        "text": unliteral(record.text_body),
        "bcc": list(record.bcc),
        "cc": list(record.cc),
        "reply_to": [record.reply_to] if record.reply_to else None,
        "last_event": last_event(record),
        "scheduled_at": record.scheduled_at,
        "tags": tags,
    }


# ---- webhooks ---------------------------------------------------------------------------------

# IEP event → Resend event type.
_EVENT_TYPES = {
    "message.sent": "email.sent",
    "message.delivered": "email.delivered",
    "message.bounced": "email.bounced",
    "message.complained": "email.complained",
    "message.opened": "email.opened",
    "message.clicked": "email.clicked",
    "message.failed": "email.failed",
    "message.retrying": "email.delivery_delayed",
}
_IEP_EVENTS = {v: k for k, v in _EVENT_TYPES.items()}


def iep_event_name(name: str) -> str:
    """`email.sent` → `message.sent` (endpoints of format `resend` may subscribe that way)."""
    return _IEP_EVENTS.get(name.strip().lower(), name)


def webhook_body(
    event: str, timestamp: str, message_id: str | None, data: dict[str, Any],
    record: MessageRecord | None,
) -> bytes:  # fmt: skip
    """Resend's webhook payload `{type, created_at, data: {email_id, from, to, subject, …}}`."""
    body: dict[str, Any] = {"email_id": message_id}
    if record is not None:
        body.update(
            created_at=record.created_at,
            **{"from": mailbox(record.from_email, record.from_name)},
            to=list(record.to),
            subject=unliteral(record.subject),
        )
        tags = email_object(record)["tags"]
        if tags:
            body["tags"] = {t["name"]: t.get("value", "") for t in tags}
    if event == "message.bounced":
        body["bounce"] = {
            "message": str(data.get("error") or data.get("diagnostic") or ""),
            "type": "Permanent" if data.get("kind", "hard") == "hard" else "Transient",
            "subType": "General",
        }
    elif event == "message.failed":
        body["failed"] = {"reason": str(data.get("error") or "")}
    elif event == "message.clicked" and data.get("url"):
        body["click"] = {"link": data["url"], "timestamp": timestamp,
                         "userAgent": data.get("userAgent", "")}  # fmt: skip
    doc = {"type": _EVENT_TYPES.get(event, event), "created_at": timestamp, "data": body}
    return msgspec.json.encode(doc)
