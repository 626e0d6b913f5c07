"""Response shapes of /v1 (camelCase on the wire) and the converters from domain records."""

from typing import Annotated, Any

import msgspec

from iep_appliance.api.fields import CreatedAt, MessageId, SuppressedRecipients
from iep_appliance.api.pages import NextCursor, PageItems
from iep_appliance.domain.models import MessageRecord


class SenderView(msgspec.Struct, frozen=True):
    email: Annotated[str, msgspec.Meta(description="The address.")]
    name: Annotated[str | None, msgspec.Meta(description="Display name; null when none.")]


class EventView(msgspec.Struct, frozen=True):
    type: Annotated[
        str,
        msgspec.Meta(
            description="What happened: queued, processing, sent, deferred, failed, bounced, ..."
        ),
    ]
    timestamp: Annotated[str, msgspec.Meta(description="When it happened (ISO 8601, UTC).")]
    data: Annotated[
        dict[str, Any],
        msgspec.Meta(description="Details of the event (provider, error, recipient, ...)."),
    ]


class AttachmentView(msgspec.Struct, frozen=True, rename="camel"):
    filename: Annotated[str, msgspec.Meta(description="File name shown to the recipient.")]
    content_type: Annotated[str, msgspec.Meta(description="MIME type.")]
    size_bytes: Annotated[int, msgspec.Meta(description="Size in bytes (decoded).")]


class MessageView(msgspec.Struct, frozen=True, rename="camel"):
    message_id: MessageId
    status: Annotated[
        str,
        msgspec.Meta(
            description="queued, scheduled, processing, sent, delivered (a provider reported"
            " it), failed, bounced or cancelled."
        ),
    ]
    to: Annotated[list[str], msgspec.Meta(description="Recipients.")]
    cc: Annotated[list[str], msgspec.Meta(description="Cc recipients.")]
    bcc: Annotated[list[str], msgspec.Meta(description="Bcc recipients.")]
    from_: Annotated[SenderView, msgspec.Meta(description="The sender.")] = msgspec.field(
        name="from"
    )
    reply_to: Annotated[str | None, msgspec.Meta(description="Reply-To address.")] = None
    subject: Annotated[str, msgspec.Meta(description="Subject as submitted (the template).")] = ""
    priority: Annotated[
        str, msgspec.Meta(description="Delivery priority: `high`, `normal` or `low`.")
    ] = "normal"
    metadata: Annotated[
        dict[str, Any], msgspec.Meta(description="Free-form JSON given at submission.")
    ] = {}
    provider: Annotated[
        str | None, msgspec.Meta(description="Provider that sent (or last tried) the message.")
    ] = None
    attempts: Annotated[int, msgspec.Meta(description="Delivery attempts so far.")] = 0
    last_error: Annotated[
        str | None, msgspec.Meta(description="The last failure's reason; null when none.")
    ] = None
    created_at: CreatedAt = ""
    scheduled_at: Annotated[
        str | None,
        msgspec.Meta(description="Not sent before this time (ISO 8601); null = at once."),
    ] = None
    sent_at: Annotated[
        str | None,
        msgspec.Meta(description="When the provider accepted it (ISO 8601); null until sent."),
    ] = None
    queue: Annotated[str, msgspec.Meta(description="Named queue it goes through.")] = "default"
    sandbox: Annotated[
        bool, msgspec.Meta(description="Sent with a sandbox key: kept in the outbox.")
    ] = False
    batch_id: Annotated[str | None, msgspec.Meta(description="The batch's id.")] = None
    attachments: Annotated[
        list[AttachmentView], msgspec.Meta(description="Its attachments (metadata only).")
    ] = []
    events: Annotated[
        list[EventView] | msgspec.UnsetType, msgspec.Meta(description="Its history, oldest first.")
    ] = msgspec.UNSET
    origin: Annotated[
        str, msgspec.Meta(description="How it arrived: `api`, `smtp`, `resend` or `postmark`.")
    ] = "api"


class MessageList(msgspec.Struct, frozen=True, rename="camel"):
    data: PageItems[MessageView]
    next_cursor: NextCursor


class AcceptedView(msgspec.Struct, frozen=True, rename="camel"):
    message_id: MessageId
    status: Annotated[
        str,
        msgspec.Meta(
            description="Always `queued`: the message and its delivery job are committed."
        ),
    ]
    suppressed_recipients: SuppressedRecipients


class RetryView(msgspec.Struct, frozen=True, rename="camel"):
    message_id: MessageId
    status: Annotated[str, msgspec.Meta(description="The message's status now: `queued`.")]


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
