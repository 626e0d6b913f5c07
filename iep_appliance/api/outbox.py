"""/v1/outbox: what the outbox provider kept for this tenant (DESIGN §10.2). Thin: the rules
live in services/outbox.py."""

from typing import Annotated

import msgspec
from litestar import Request, Response, delete, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from iep_appliance.api.auth import needs
from iep_appliance.domain.models import OutboxEntry, Principal
from iep_appliance.runtime import Runtime


class OutboxItemView(msgspec.Struct, frozen=True, rename="camel"):
    message_id: str
    created_at: str
    size_bytes: int
    subject: str
    from_: str = msgspec.field(name="from")
    to: list[str] = []
    cc: list[str] = []
    bcc: list[str] = []


class OutboxList(msgspec.Struct, frozen=True, rename="camel"):
    data: list[OutboxItemView]
    next_cursor: str | None


class HeaderView(msgspec.Struct, frozen=True):
    name: str
    value: str


class OutboxAttachmentView(msgspec.Struct, frozen=True, rename="camel"):
    filename: str | None
    content_type: str
    size_bytes: int


class OutboxMessageView(msgspec.Struct, frozen=True, rename="camel"):
    message_id: str
    created_at: str
    size_bytes: int
    subject: str
    from_: str = msgspec.field(name="from")
    to: list[str] = []
    cc: list[str] = []
    bcc: list[str] = []
    headers: list[HeaderView] = []
    html: str | None = None
    text: str | None = None
    attachments: list[OutboxAttachmentView] = []


class ClearedView(msgspec.Struct, frozen=True):
    deleted: int


def _rt(request: Request) -> Runtime:
    return request.app.state.runtime


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


@get(
    "/v1/outbox",
    dependencies={"principal": needs("read")},
    summary="Messages the outbox provider kept (filters, cursor pagination)",
    tags=["outbox"],
)
async def list_outbox(
    request: Request,
    principal: NamedDependency[Principal],
    to: FromQuery[str | None] = None,
    subject: FromQuery[str | None] = None,
    since: FromQuery[str | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    cursor: FromQuery[str | None] = None,
) -> OutboxList:
    items, nxt = await _rt(request).outbox.list(
        principal.tenant_id, to, subject, since, limit, cursor
    )
    return OutboxList(data=[_item(e) for e in items], next_cursor=nxt)


@get(
    "/v1/outbox/{message_id:str}",
    dependencies={"principal": needs("read")},
    summary="One kept message: headers, HTML, text, attachments",
    tags=["outbox"],
)
async def get_outbox_message(
    request: Request, principal: NamedDependency[Principal], message_id: FromPath[str]
) -> OutboxMessageView:
    entry, parsed = await _rt(request).outbox.get(principal.tenant_id, message_id)
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


@get(
    "/v1/outbox/{message_id:str}/raw",
    dependencies={"principal": needs("read")},
    summary="The kept message as sent (message/rfc822)",
    tags=["outbox"],
    media_type="message/rfc822",
)
async def get_outbox_raw(
    request: Request, principal: NamedDependency[Principal], message_id: FromPath[str]
) -> Response[bytes]:
    mime = await _rt(request).outbox.raw(principal.tenant_id, message_id)
    return Response(content=mime, media_type="message/rfc822")


@delete(
    "/v1/outbox",
    dependencies={"principal": needs("admin")},
    status_code=200,
    summary="Empty the tenant's outbox (its messages stay)",
    tags=["outbox"],
)
async def clear_outbox(request: Request, principal: NamedDependency[Principal]) -> ClearedView:
    return ClearedView(deleted=await _rt(request).outbox.clear(principal.tenant_id))


HANDLERS = [list_outbox, get_outbox_message, get_outbox_raw, clear_outbox]
