"""/v1/messages/batch and /v1/batches: send one message per recipient entry, read progress,
list the batch's messages, cancel what has not started. Thin: rules live in services."""

from typing import Annotated

import msgspec
from litestar import Response
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody

from iep_appliance.api.fields import CreatedAt, SuppressedRecipients
from iep_appliance.api.inject import Injected
from iep_appliance.api.pages import BOUNDED_PAGING, Paging
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.api.schemas import MessageList, message_view
from iep_appliance.domain.models import BatchAccepted, BatchRecord, BatchRequest
from iep_appliance.services.batches import BatchService, check_count
from iep_appliance.services.ratelimits import RateLimitService

routes = Routes(tag="batches", scope="send")

BatchId = Annotated[str, msgspec.Meta(description="The batch's id.")]


class BatchAcceptedView(msgspec.Struct, frozen=True, rename="camel"):
    batch_id: BatchId
    count: Annotated[int, msgspec.Meta(description="Messages accepted (one per recipient entry).")]
    suppressed_recipients: SuppressedRecipients


class BatchView(msgspec.Struct, frozen=True, rename="camel"):
    batch_id: BatchId
    count: Annotated[int, msgspec.Meta(description="Messages in the batch.")]
    counts: Annotated[dict[str, int], msgspec.Meta(description="The batch's messages by status.")]
    created_at: CreatedAt


class BatchCancelledView(msgspec.Struct, frozen=True, rename="camel"):
    batch_id: BatchId
    status: Annotated[
        str,
        msgspec.Meta(
            description="`cancelled` once every unsent message of the batch is cancelled."
        ),
    ]
    cancelled: Annotated[int, msgspec.Meta(description="Messages cancelled by this request.")]
    counts: Annotated[
        dict[str, int],
        msgspec.Meta(description="The batch's messages by status after the cancellation."),
    ]


def view(b: BatchRecord) -> BatchView:
    return BatchView(batch_id=b.id, count=b.count, counts=b.counts, created_at=b.created_at)


@routes.post(
    "/v1/messages/batch",
    status_code=202,
    summary="Send one message per recipient entry (up to 10,000)",
    description="Shared fields of a single send plus `recipients: [{to, cc, bcc, variables}]`; "
    "each entry's variables are merged over the shared ones. Validated as a whole (errors name "
    "`recipients[i].to[0]`) and accepted in one durable transaction: all or nothing. One "
    "idempotency key for the batch: a replay answers 200 with the original batchId. Counts as "
    "one message per entry against rate limits.",
)
async def send_batch(
    batches: Injected[BatchService],
    rate_limits: Injected[RateLimitService],
    principal: Caller,
    data: JSONBody[BatchRequest],
    idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key")] = None,
) -> Response[BatchAcceptedView]:
    n = check_count(data)
    headers = await rate_limits.check(principal, n)
    try:
        result = await batches.accept(principal, data, idempotency_key)
    except BaseException:
        rate_limits.release(principal, n)  # a rejected batch sends nothing, so counts nothing
        raise
    accepted = isinstance(result, BatchAccepted)
    if not accepted:
        rate_limits.release(principal, n)  # a replay sends nothing
    body = BatchAcceptedView(
        batch_id=result.batch_id,
        count=result.count,
        suppressed_recipients=list(result.suppressed),
    )
    return Response(content=body, status_code=202 if accepted else 200, headers=headers)


@routes.get(
    "/v1/batches/{batch_id:str}",
    scope="read",
    summary="A batch's progress: its messages counted by status",
)
async def get_batch(
    batches: Injected[BatchService], principal: Caller, batch_id: FromPath[str]
) -> BatchView:
    return view(await batches.get(principal.tenant_id, batch_id))


@routes.get(
    "/v1/batches/{batch_id:str}/messages",
    scope="read",
    summary="The batch's messages (filter `status`, cursor pagination)",
    dependencies={"page": BOUNDED_PAGING},
)
async def list_batch_messages(
    batches: Injected[BatchService],
    principal: Caller,
    batch_id: FromPath[str],
    status: FromQuery[str | None] = None,
    *,
    page: Paging,  # keyword-only: it follows a parameter with a default
) -> MessageList:
    params = {"status": status} if status is not None else {}
    items, nxt = await batches.list_messages(
        principal.tenant_id, batch_id, params, page.limit, page.cursor
    )
    return MessageList(data=[message_view(m) for m in items], next_cursor=nxt)


@routes.post(
    "/v1/batches/{batch_id:str}/cancel",
    status_code=200,
    summary="Cancel the batch's messages that have not started",
    description="Scheduled or queued messages whose send has not begun become `cancelled` "
    "(with a `cancelled` event); messages already sending or sent are left as they are. "
    "`status`: `cancelled` when every message of the batch is, `partially_cancelled` when "
    "some were sending or finished; 409 when none was waiting (a fully sent batch).",
)
async def cancel_batch(
    batches: Injected[BatchService], principal: Caller, batch_id: FromPath[str]
) -> BatchCancelledView:
    cancelled, batch, status = await batches.cancel(principal.tenant_id, batch_id)
    return BatchCancelledView(
        batch_id=batch.id, status=status, cancelled=cancelled, counts=batch.counts
    )


HANDLERS = [send_batch, get_batch, list_batch_messages, cancel_batch]
