"""/v1/outbox: what the outbox provider kept for this tenant (DESIGN §10.2). Thin: the rules
live in services/outbox.py."""

from typing import Annotated

import msgspec
from litestar import Request, Response
from litestar.params import FromPath, FromQuery

from iep_appliance.api.inject import Injected
from iep_appliance.api.pages import BOUNDED_PAGING, Paging
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.domain.outbox import OutboxEntry
from iep_appliance.services.outbox import OutboxService

routes = Routes(tag="outbox", scope="read")


def _d(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class OutboxItemView(msgspec.Struct, frozen=True, rename="camel"):
    message_id: Annotated[str, _d("The message's id (as in /v1/messages/{id}).")]
    created_at: Annotated[str, _d("When the outbox kept it (ISO 8601, UTC).")]
    size_bytes: Annotated[int, _d("Size of the raw message as sent, in bytes.")]
    subject: Annotated[str, _d("Subject as sent (decoded).")]
    from_: Annotated[str, _d("The From address.")] = msgspec.field(name="from")
    to: Annotated[list[str], _d("To recipients.")] = []
    cc: Annotated[list[str], _d("Cc recipients.")] = []
    bcc: Annotated[list[str], _d("Bcc recipients (from the envelope).")] = []


class OutboxList(msgspec.Struct, frozen=True, rename="camel"):
    data: Annotated[list[OutboxItemView], _d("Kept messages, newest first.")]
    next_cursor: Annotated[str | None, _d("Pass as `cursor` for the next page; null at the end.")]


class HeaderView(msgspec.Struct, frozen=True):
    name: Annotated[str, _d("Header name.")]
    value: Annotated[str, _d("Header value (decoded).")]


class OutboxAttachmentView(msgspec.Struct, frozen=True, rename="camel"):
    filename: Annotated[str | None, _d("File name; null when the part has none.")]
    content_type: Annotated[str, _d("MIME type of the part.")]
    size_bytes: Annotated[int, _d("Decoded size in bytes.")]


# An OutboxItemView's fields, then the message's headers, parts and attachments.
class OutboxMessageView(OutboxItemView, frozen=True, rename="camel"):
    headers: Annotated[list[HeaderView], _d("Every header of the message, in order.")] = []
    html: Annotated[str | None, _d("The HTML part; null when none.")] = None
    text: Annotated[str | None, _d("The text/plain part; null when none.")] = None
    attachments: Annotated[list[OutboxAttachmentView], _d("Its attachments (metadata).")] = []


class ClearedView(msgspec.Struct, frozen=True):
    deleted: Annotated[int, _d("How many kept messages were deleted.")]


def _item(e: OutboxEntry) -> OutboxItemView:
    return OutboxItemView(
        message_id=e.message_id,
        created_at=e.created_at,
        size_bytes=e.size_bytes,
        subject=e.subject,
        from_=e.from_email,
        to=list(e.to),
        cc=list(e.cc),
        bcc=list(e.bcc),
    )


@routes.get(
    "/v1/outbox",
    summary="Messages the outbox provider kept (filters, cursor pagination)",
    dependencies={"page": BOUNDED_PAGING},
)
async def list_outbox(
    outbox: Injected[OutboxService],
    principal: Caller,
    to: FromQuery[str | None] = None,
    subject: FromQuery[str | None] = None,
    since: FromQuery[str | None] = None,
    *,
    page: Paging,  # keyword-only: it follows parameters with defaults
) -> OutboxList:
    items, nxt = await outbox.list(principal.tenant_id, to, subject, since, page.limit, page.cursor)
    return OutboxList(data=[_item(e) for e in items], next_cursor=nxt)


@routes.get(
    "/v1/outbox/{message_id:str}", summary="One kept message: headers, HTML, text, attachments"
)
async def get_outbox_message(
    outbox: Injected[OutboxService], principal: Caller, message_id: FromPath[str]
) -> OutboxMessageView:
    entry, parsed = await outbox.get(principal.tenant_id, message_id)
    item = _item(entry)
    return OutboxMessageView(
        **msgspec.structs.asdict(item),
        headers=[HeaderView(n, v) for n, v in parsed.headers],
        html=parsed.html,
        text=parsed.text,
        attachments=[
            OutboxAttachmentView(a.filename, a.content_type, a.size_bytes)
            for a in parsed.attachments
        ],
    )


@routes.get(
    "/v1/outbox/{message_id:str}/raw",
    summary="The kept message as sent (message/rfc822)",
    media_type="message/rfc822",
)
async def get_outbox_raw(
    outbox: Injected[OutboxService], principal: Caller, message_id: FromPath[str]
) -> Response[bytes]:
    mime = await outbox.raw(principal.tenant_id, message_id)
    return Response(content=mime, media_type="message/rfc822")


@routes.delete(
    "/v1/outbox",
    scope="admin",
    status_code=200,
    summary="Empty the tenant's outbox (its messages stay)",
)
async def clear_outbox(
    request: Request, outbox: Injected[OutboxService], principal: Caller
) -> ClearedView:
    return ClearedView(deleted=await outbox.clear(principal.tenant_id))


HANDLERS = [list_outbox, get_outbox_message, get_outbox_raw, clear_outbox]
