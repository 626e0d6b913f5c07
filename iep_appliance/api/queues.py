"""/v1/queues (admin): a tenant's named queues, their pause/resume/drain and stats.

A queue is `{id, name, priority, ratePerMinute, retrySchedule, state}`; `default` exists
implicitly. Sends name a queue in `queue`. How priorities share the sender pool is in
domain/queues.py. Thin: rules live in services/queues.py."""

from typing import Annotated

import msgspec
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody

from iep_appliance.api.fields import ItsId
from iep_appliance.api.inject import Injected
from iep_appliance.api.pages import NextCursor, PageItems, Paging
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.domain.models import Queue, QueueCreate, QueuePatch
from iep_appliance.services.queues import QueueService

routes = Routes(tag="queues", scope="admin")


class QueueView(msgspec.Struct, frozen=True, rename="camel"):
    id: ItsId
    name: Annotated[str, msgspec.Meta(description="Queue name.")]
    priority: Annotated[
        int, msgspec.Meta(description="Share of the senders: higher goes first (1 to 10).")
    ]
    rate_per_minute: Annotated[
        int | None, msgspec.Meta(description="Most messages sent per minute; null = unlimited.")
    ]
    retry_schedule: Annotated[
        list[int] | None,
        msgspec.Meta(description="Seconds between attempts; null = the appliance's schedule."),
    ]
    state: Annotated[str, msgspec.Meta(description="`active` or `paused`.")]


class QueueList(msgspec.Struct, frozen=True, rename="camel"):
    data: PageItems[QueueView]
    next_cursor: NextCursor


class QueueDepth(msgspec.Struct, frozen=True):
    ready: Annotated[int, msgspec.Meta(description="Jobs due now.")]
    delayed: Annotated[
        int, msgspec.Meta(description="Jobs waiting for a retry or a scheduled time.")
    ]
    leased: Annotated[int, msgspec.Meta(description="Jobs being sent.")]
    paused: Annotated[int, msgspec.Meta(description="Jobs held by a paused queue.")]


class QueueStatsView(msgspec.Struct, frozen=True, rename="camel"):
    id: ItsId
    name: Annotated[str, msgspec.Meta(description="Queue name.")]
    state: Annotated[str, msgspec.Meta(description="`active` or `paused`.")]
    depth: Annotated[QueueDepth, msgspec.Meta(description="Its jobs by state.")]
    oldest_age_seconds: Annotated[
        float | None,
        msgspec.Meta(description="Age of its oldest due job in seconds; null when none."),
    ]
    sent_last_hour: Annotated[int, msgspec.Meta(description="Messages sent in the last hour.")]
    failed_last_hour: Annotated[int, msgspec.Meta(description="Messages failed in the last hour.")]
    bounced_last_hour: Annotated[
        int, msgspec.Meta(description="Messages bounced in the last hour.")
    ]


def view(q: Queue) -> QueueView:
    return QueueView(
        id=q.id,
        name=q.name,
        priority=q.priority,
        rate_per_minute=q.rate_per_minute,
        retry_schedule=list(q.retry_schedule) if q.retry_schedule is not None else None,
        state=q.state,
    )


@routes.get("/v1/queues", summary="List queues by name (the implicit `default` included)")
async def list_queues(
    queues: Injected[QueueService],
    principal: Caller,
    page: Paging,
) -> QueueList:
    items, nxt = await queues.list(principal.tenant_id, page.limit, page.cursor)
    return QueueList(data=[view(q) for q in items], next_cursor=nxt)


@routes.post(
    "/v1/queues",
    status_code=201,
    summary="Create a queue",
    description="`priority` 1-10 (default 5; higher is served first, lower never starves), "
    "`ratePerMinute` (null = unlimited), `retrySchedule` in seconds (null = the server's).",
)
async def create_queue(
    queues: Injected[QueueService], principal: Caller, data: JSONBody[QueueCreate]
) -> QueueView:
    return view(await queues.create(principal.tenant_id, data))


@routes.get("/v1/queues/{queue_id:str}", summary="One queue")
async def get_queue(
    queues: Injected[QueueService], principal: Caller, queue_id: FromPath[str]
) -> QueueView:
    return view(await queues.get(principal.tenant_id, queue_id))


@routes.patch(
    "/v1/queues/{queue_id:str}",
    status_code=200,
    summary="Change a queue's priority, rate limit or retry schedule (any subset)",
    description="null clears `ratePerMinute` or `retrySchedule`. A new priority applies to "
    "the messages already waiting in the queue.",
)
async def patch_queue(
    queues: Injected[QueueService],
    principal: Caller,
    queue_id: FromPath[str],
    data: JSONBody[QueuePatch],
) -> QueueView:
    return view(await queues.update(principal.tenant_id, queue_id, data))


@routes.delete(
    "/v1/queues/{queue_id:str}",
    status_code=204,
    summary="Delete an empty queue (409 for `default` or a queue with unfinished messages)",
)
async def delete_queue(
    queues: Injected[QueueService], principal: Caller, queue_id: FromPath[str]
) -> None:
    await queues.delete(principal.tenant_id, queue_id)


def _state_route(action: str, state: str, summary: str) -> HTTPRouteHandler:
    """`POST /v1/queues/{id}/<action>`, a handler named `<action>_queue` (its OpenAPI
    operationId): puts the queue in `state` and answers the queue."""

    async def set_state(
        queues: Injected[QueueService], principal: Caller, queue_id: FromPath[str]
    ) -> QueueView:
        return view(await queues.set_state(principal.tenant_id, queue_id, state))

    set_state.__name__ = set_state.__qualname__ = f"{action}_queue"
    path = f"/v1/queues/{{queue_id:str}}/{action}"
    return routes.post(path, status_code=200, summary=summary)(set_state)


pause_queue = _state_route(
    "pause", "paused", "Pause: the queue accepts messages but sends none until resumed"
)
resume_queue = _state_route("resume", "active", "Resume a paused or draining queue")
drain_queue = _state_route(
    "drain", "draining", "Drain: reject new sends to the queue (409) and finish the ones it holds"
)


@routes.get(
    "/v1/queues/{queue_id:str}/stats",
    summary="Depth by state, age of the oldest due message, outcomes in the last hour",
    description="`depth.ready`: due now; `delayed`: scheduled or waiting for a retry; "
    "`leased`: being sent; `paused`: held by a pause.",
)
async def queue_stats(
    queues: Injected[QueueService], principal: Caller, queue_id: FromPath[str]
) -> QueueStatsView:
    queue, stats, age = await queues.stats(principal.tenant_id, queue_id)
    return QueueStatsView(
        id=queue.id,
        name=queue.name,
        state=queue.state,
        depth=QueueDepth(**stats.depth),
        oldest_age_seconds=age,
        sent_last_hour=stats.last_hour["sent"],
        failed_last_hour=stats.last_hour["failed"],
        bounced_last_hour=stats.last_hour["bounced"],
    )


HANDLERS = [
    list_queues,
    create_queue,
    get_queue,
    patch_queue,
    delete_queue,
    pause_queue,
    resume_queue,
    drain_queue,
    queue_stats,
]
