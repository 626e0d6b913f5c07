"""/v1/messages: send, read, list, retry. Thin: every rule lives in services/domain."""

from typing import Annotated

import msgspec
from litestar import Request, Response, post
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter

from iep_appliance.api.auth import authorize
from iep_appliance.api.inject import Injected
from iep_appliance.api.pages import BOUNDED_PAGING, Paging
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.api.schemas import (
    AcceptedView,
    MessageList,
    MessageView,
    RetryView,
    message_view,
)
from iep_appliance.api.send import accept_send
from iep_appliance.domain.models import SendRequest
from iep_appliance.services.keys import KeyService
from iep_appliance.services.messages import MessageService
from iep_appliance.services.ratelimits import RateLimitService

routes = Routes(tag="messages", scope="read")

_encode = msgspec.json.encode
JSON = "application/json"


@post(
    "/v1/messages",
    status_code=202,
    summary="Send one message",
    description="Validates, stores durably and queues one message. 202 means on disk; "
    "a replayed idempotency key answers 200 with the original messageId.",
    tags=["messages"],
    responses={},
)
async def send_message(
    request: Request,
    keys: Injected[KeyService],
    messages: Injected[MessageService],
    rate_limits: Injected[RateLimitService],
    data: JSONBody[SendRequest],
    idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key")] = None,
) -> Response[AcceptedView]:
    principal = await authorize(keys, request, "send")  # a call: cheaper than a dependency
    status, body, headers = await accept_send(
        messages, rate_limits, principal, data, idempotency_key
    )
    return Response(content=body, status_code=status, headers=headers)


@routes.get("/v1/messages/{message_id:str}", summary="One message with its events")
async def get_message(
    messages: Injected[MessageService], principal: Caller, message_id: FromPath[str]
) -> MessageView:
    record = await messages.get(principal.tenant_id, message_id)
    return message_view(record, with_events=True)


@routes.get(
    "/v1/messages",
    summary="List messages (filters, cursor pagination)",
    dependencies={"page": BOUNDED_PAGING},
)
async def list_messages(
    messages: Injected[MessageService],
    principal: Caller,
    status: FromQuery[str | None] = None,
    recipient: FromQuery[str | None] = None,
    category: FromQuery[str | None] = None,
    tag: FromQuery[str | None] = None,
    from_: Annotated[str | None, QueryParameter(name="from")] = None,
    to: FromQuery[str | None] = None,
    *,
    page: Paging,  # keyword-only: it follows parameters with defaults
) -> MessageList:
    params = {
        k: v
        for k, v in {
            "status": status,
            "recipient": recipient,
            "category": category,
            "tag": tag,
            "from": from_,
            "to": to,
        }.items()
        if v is not None
    }
    items, nxt = await messages.list(principal.tenant_id, params, page.limit, page.cursor)
    return MessageList(data=[message_view(m) for m in items], next_cursor=nxt)


@routes.post(
    "/v1/messages/{message_id:str}/retry",
    scope="send",
    status_code=202,
    summary="Retry a failed message",
)
async def retry_message(
    messages: Injected[MessageService], principal: Caller, message_id: FromPath[str]
) -> RetryView:
    await messages.retry(principal.tenant_id, message_id)
    return RetryView(message_id=message_id, status="queued")


HANDLERS = [send_message, get_message, list_messages, retry_message]
