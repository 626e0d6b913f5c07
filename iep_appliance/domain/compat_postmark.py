"""The Postmark-compatible API (DESIGN §10.2): Postmark's bodies and answers, mapped to IEP's.
Pure.

A Postmark email (PascalCase: `From`, `To` comma-separated with names allowed, `HtmlBody`,
`TextBody`, `ReplyTo`, `Tag`, `Metadata`, `Headers [{Name, Value}]`, `Attachments [{Name,
Content, ContentType}]`, `MessageStream`) becomes the `SendRequest` POST /v1/messages takes.
Errors carry Postmark's `ErrorCode` numbers; `ErrorCode` 0 with `Message: "OK"` is success.
"""

from typing import Any

import msgspec

from iep_appliance.domain.compat_common import (
    address_list,
    guess_type,
    header_problem,
    mailbox,
    send_request,
    unliteral,
)
from iep_appliance.domain.errors import FieldError, ValidationFailed
from iep_appliance.domain.models import AttachmentIn, MessageRecord, SendRequest

MAX_RECIPIENTS = 50  # To, Cc and Bcc together
MAX_BATCH = 500
DEFAULT_STREAM = "outbound"

# Postmark's API error codes (https://postmarkapp.com/developer/api/overview#error-codes).
BAD_TOKEN = 10
INVALID_REQUEST = 300
SENDER_NOT_FOUND = 400
INVALID_JSON = 402
INACTIVE_RECIPIENT = 406
TOO_MANY_BATCH = 410
FORBIDDEN_ATTACHMENT = 411
NOT_FOUND = 701


class PostmarkHeader(msgspec.Struct, frozen=True):
    name: str = msgspec.field(name="Name")
    value: str = msgspec.field(name="Value")


class PostmarkAttachment(msgspec.Struct, frozen=True):
    name: str | None = msgspec.field(name="Name", default=None)
    content: str | None = msgspec.field(name="Content", default=None)
    content_type: str | None = msgspec.field(name="ContentType", default=None)
    content_id: str | None = msgspec.field(name="ContentID", default=None)


class PostmarkEmail(msgspec.Struct, frozen=True):
    """One email as Postmark's POST /email takes it (unknown members are ignored, as there)."""

    from_: str | None = msgspec.field(name="From", default=None)
    to: str | None = msgspec.field(name="To", default=None)
    cc: str | None = msgspec.field(name="Cc", default=None)
    bcc: str | None = msgspec.field(name="Bcc", default=None)
    subject: str | None = msgspec.field(name="Subject", default=None)
    tag: str | None = msgspec.field(name="Tag", default=None)
    html_body: str | None = msgspec.field(name="HtmlBody", default=None)
    text_body: str | None = msgspec.field(name="TextBody", default=None)
    reply_to: str | None = msgspec.field(name="ReplyTo", default=None)
    metadata: dict[str, str] | None = msgspec.field(name="Metadata", default=None)
    headers: list[PostmarkHeader] | None = msgspec.field(name="Headers", default=None)
    attachments: list[PostmarkAttachment] | None = msgspec.field(name="Attachments", default=None)
    track_opens: bool | None = msgspec.field(name="TrackOpens", default=None)
    track_links: str | None = msgspec.field(name="TrackLinks", default=None)
    message_stream: str | None = msgspec.field(name="MessageStream", default=None)


# IEP's field paths → Postmark's (for error messages).
_FIELD_NAMES = {
    "to": "To",
    "cc": "Cc",
    "bcc": "Bcc",
    "from.email": "From",
    "from.name": "From",
    "replyTo": "ReplyTo",
    "subject": "Subject",
    "htmlBody": "HtmlBody",
    "textBody": "TextBody",
    "metadata.category": "Tag",
    "metadata.tags": "Tag",
    "queue": "MessageStream",
}


def postmark_field(path: str) -> str:
    head, bracket, rest = path.partition("[")
    if head in _FIELD_NAMES:
        return _FIELD_NAMES[head] + (bracket + rest if bracket else "")
    if head == "attachments":
        return (
            ("Attachments[" + rest)
            .replace("contentType", "ContentType")
            .replace("content", "Content")
            .replace("filename", "Name")
        )
    return path


def error_code(errors: list[FieldError]) -> int:
    """411 when an attachment's type is refused, else 300 (invalid email request)."""
    if any(e.path.endswith("contentType") for e in errors):
        return FORBIDDEN_ATTACHMENT
    return INVALID_REQUEST


def message_of(errors: list[FieldError]) -> str:
    return " ".join(f"Invalid '{postmark_field(e.path)}': {e.message}." for e in errors)


def to_send_request(email: PostmarkEmail) -> SendRequest:
    """The IEP send of one Postmark email. Raises ValidationFailed naming Postmark's fields."""
    errors: list[FieldError] = []
    if not email.from_:
        errors.append(FieldError("From", "is required"))
    to, cc, bcc = address_list(email.to), address_list(email.cc), address_list(email.bcc)
    if not to:
        errors.append(FieldError("To", "at least one recipient is required"))
    if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
        errors.append(FieldError("To", f"at most {MAX_RECIPIENTS} recipients in To, Cc and Bcc"))
    if not email.html_body and not email.text_body:
        errors.append(FieldError("HtmlBody", "provide either HtmlBody or TextBody"))
    reply_to = address_list(email.reply_to)
    if len(reply_to) > 1:
        errors.append(FieldError("ReplyTo", "at most one address is supported"))
    metadata: dict[str, Any] = {}
    if email.tag:
        metadata.update(category=email.tag, tags=[email.tag])
    if email.metadata:
        metadata["postmarkMetadata"] = dict(email.metadata)
    if email.headers:
        for i, h in enumerate(email.headers):
            problem = header_problem(h.name, h.value)
            if problem is not None:
                errors.append(FieldError(f"Headers[{i}]", f"{h.name!r}: {problem}"))
        metadata["headers"] = {h.name: h.value for h in email.headers}
    attachments: list[AttachmentIn] = []
    for i, a in enumerate(email.attachments or []):
        if not a.name or a.content is None:
            errors.append(FieldError(f"Attachments[{i}]", "Name and Content are required"))
            continue
        attachments.append(
            AttachmentIn(
                filename=a.name,
                content="".join(a.content.split()),
                content_type=a.content_type or guess_type(a.name),
            )
        )
    if errors:
        raise ValidationFailed(errors)
    stream = email.message_stream
    return send_request(
        email.from_,
        email.subject,
        (email.html_body, email.text_body),
        (to, cc, bcc),
        reply_to,
        attachments,
        metadata,
        queue=None if stream in (None, "", DEFAULT_STREAM) else stream,
    )


# ---- answers ----------------------------------------------------------------------------------

_STATUS = {
    "scheduled": "Queued",
    "queued": "Queued",
    "processing": "Queued",
    "sent": "Sent",
    "failed": "Failed",
    "bounced": "Bounced",
    "cancelled": "Cancelled",
}
_EVENT_TYPES = {
    "sent": "Delivered",
    "delivered": "Delivered",
    "bounced": "Bounced",
    "retrying": "Transient",
    "opened": "Opened",
    "clicked": "LinkClicked",
}


def details(record: MessageRecord) -> dict[str, Any]:
    """Postmark's GET /messages/outbound/{id}/details answer."""
    meta = record.metadata
    recipients = [*record.to, *record.cc, *record.bcc]
    events = [
        {
            "Recipient": recipients[0] if recipients else "",
            "Type": _EVENT_TYPES[ev.type],
            "ReceivedAt": ev.timestamp,
            "Details": {k: str(v) for k, v in ev.data.items() if not isinstance(v, dict | list)},
        }
        for ev in record.events
        if ev.type in _EVENT_TYPES
    ]
    return {
        "TextBody": unliteral(record.text_body) or "",
        "HtmlBody": unliteral(record.html_body) or "",
        "Body": "",
        "Tag": meta.get("category") or "",
        "MessageID": record.id,
        "MessageStream": DEFAULT_STREAM if record.queue == "default" else record.queue,
        "To": [{"Email": a, "Name": None} for a in record.to],
        "Cc": [{"Email": a, "Name": None} for a in record.cc],
        "Bcc": [{"Email": a, "Name": None} for a in record.bcc],
        "Recipients": recipients,
        "ReceivedAt": record.created_at,
        "From": mailbox(record.from_email, record.from_name),
        "Subject": unliteral(record.subject),
        "Attachments": [a.filename for a in record.attachments],
        "Status": _STATUS.get(record.status, record.status),
        "TrackOpens": False,
        "TrackLinks": "None",
        "Metadata": meta.get("postmarkMetadata") or {},
        "Sandboxed": record.sandbox,
        "MessageEvents": events,
    }
