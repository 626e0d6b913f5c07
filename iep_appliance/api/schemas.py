"""Response shapes of /v1 (camelCase on the wire) and the converters from domain records."""

from typing import Any

import msgspec

from iep_appliance.domain.models import MessageRecord


class SenderView(msgspec.Struct, frozen=True):
    email: str
    name: str | None


class EventView(msgspec.Struct, frozen=True):
    type: str
    timestamp: str
    data: dict[str, Any]


class AttachmentView(msgspec.Struct, frozen=True, rename="camel"):
    filename: str
    content_type: str
    size_bytes: int


class MessageView(msgspec.Struct, frozen=True, rename="camel"):
    message_id: str
    status: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    from_: SenderView = msgspec.field(name="from")
    reply_to: str | None = None
    subject: str = ""
    priority: str = "normal"
    metadata: dict[str, Any] = {}
    provider: str | None = None
    attempts: int = 0
    last_error: str | None = None
    created_at: str = ""
    scheduled_at: str | None = None
    sent_at: str | None = None
    queue: str = "default"
    sandbox: bool = False
    batch_id: str | None = None
    attachments: list[AttachmentView] = []
    events: list[EventView] | msgspec.UnsetType = msgspec.UNSET
    origin: str = "api"  # how it arrived: api | smtp | resend | postmark (issue 15)


class MessageList(msgspec.Struct, frozen=True, rename="camel"):
    data: list[MessageView]
    next_cursor: str | None


class AcceptedView(msgspec.Struct, frozen=True, rename="camel"):
    message_id: str
    status: str
    suppressed_recipients: list[str]


class RetryView(msgspec.Struct, frozen=True, rename="camel"):
    message_id: str
    status: str


def message_view(m: MessageRecord, with_events: bool = False) -> MessageView:
    return MessageView(
        message_id=m.id,
        status=m.status,
        to=list(m.to),
        cc=list(m.cc),
        bcc=list(m.bcc),
        from_=SenderView(email=m.from_email, name=m.from_name),
        reply_to=m.reply_to,
        subject=m.rendered_subject if m.rendered_subject is not None else m.subject,
        priority=m.priority,
        metadata=m.metadata,
        provider=m.provider,
        attempts=m.attempts,
        last_error=m.last_error,
        created_at=m.created_at,
        scheduled_at=m.scheduled_at,
        sent_at=m.sent_at,
        queue=m.queue,
        sandbox=m.sandbox,
        batch_id=m.batch_id,
        origin=m.origin,
        attachments=[
            AttachmentView(
                filename=a.filename, content_type=a.content_type, size_bytes=a.size_bytes
            )
            for a in m.attachments
        ],
        events=[EventView(e.type, e.timestamp, e.data) for e in m.events]
        if with_events
        else msgspec.UNSET,
    )
