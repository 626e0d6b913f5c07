"""/v1/queues (admin): a tenant's named queues, their pause/resume/drain and stats.

A queue is `{id, name, priority, ratePerMinute, retrySchedule, state}`; `default` exists
implicitly. Sends name a queue in `queue`. How priorities share the sender pool is in
domain/queues.py. Thin: rules live in services/queues.py."""

import msgspec
from litestar import Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from iep_appliance.api.auth import needs
from iep_appliance.domain.models import Principal, Queue, QueueCreate, QueuePatch
from iep_appliance.runtime import Runtime


class QueueView(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    name: str
    priority: int
    rate_per_minute: int | None
    retry_schedule: list[int] | None
    state: str


class QueueList(msgspec.Struct, frozen=True, rename="camel"):
    data: list[QueueView]
    next_cursor: str | None


class QueueDepth(msgspec.Struct, frozen=True):
    ready: int
    delayed: int
    leased: int
    paused: int


class QueueStatsView(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    name: str
    state: str
    depth: QueueDepth
    oldest_age_seconds: float | None
    sent_last_hour: int
    failed_last_hour: int
    bounced_last_hour: int


def _rt(request: Request) -> Runtime:
    return request.app.state.runtime


def view(q: Queue) -> QueueView:
    return QueueView(
        id=q.id,
        name=q.name,
        priority=q.priority,
        rate_per_minute=q.rate_per_minute,
        retry_schedule=list(q.retry_schedule) if q.retry_schedule is not None else None,
        state=q.state,
    )


@get(
    "/v1/queues",
    dependencies={"principal": needs("admin")},
    summary="List queues by name (the implicit `default` included)",
    tags=["queues"],
)
async def list_queues(
    request: Request,
    principal: NamedDependency[Principal],
    limit: FromQuery[int] = 50,
    cursor: FromQuery[str | None] = None,
) -> QueueList:
    items, nxt = await _rt(request).queues.list(principal.tenant_id, limit, cursor)
    return QueueList(data=[view(q) for q in items], next_cursor=nxt)


@post(
    "/v1/queues",
    dependencies={"principal": needs("admin")},
    status_code=201,
    summary="Create a queue",
    description="`priority` 1-10 (default 5; higher is served first, lower never starves), "
    "`ratePerMinute` (null = unlimited), `retrySchedule` in seconds (null = the server's).",
    tags=["queues"],
)
async def create_queue(
    request: Request, principal: NamedDependency[Principal], data: JSONBody[QueueCreate]
) -> QueueView:
    return view(await _rt(request).queues.create(principal.tenant_id, data))


@get(
    "/v1/queues/{queue_id:str}",
    dependencies={"principal": needs("admin")},
    summary="One queue",
    tags=["queues"],
)
async def get_queue(
    request: Request, principal: NamedDependency[Principal], queue_id: FromPath[str]
) -> QueueView:
    return view(await _rt(request).queues.get(principal.tenant_id, queue_id))


@patch(
    "/v1/queues/{queue_id:str}",
    dependencies={"principal": needs("admin")},
    status_code=200,
    summary="Change a queue's priority, rate limit or retry schedule (any subset)",
    description="null clears `ratePerMinute` or `retrySchedule`. A new priority applies to "
    "the messages already waiting in the queue.",
    tags=["queues"],
)
async def patch_queue(
    request: Request,
    principal: NamedDependency[Principal],
    queue_id: FromPath[str],
    data: JSONBody[QueuePatch],
) -> QueueView:
    return view(await _rt(request).queues.update(principal.tenant_id, queue_id, data))


@delete(
    "/v1/queues/{queue_id:str}",
    dependencies={"principal": needs("admin")},
    status_code=204,
    summary="Delete an empty queue (409 for `default` or a queue with unfinished messages)",
    tags=["queues"],
)
async def delete_queue(
    request: Request, principal: NamedDependency[Principal], queue_id: FromPath[str]
) -> None:
    await _rt(request).queues.delete(principal.tenant_id, queue_id)


@post(
    "/v1/queues/{queue_id:str}/pause",
    dependencies={"principal": needs("admin")},
    status_code=200,
    summary="Pause: the queue accepts messages but sends none until resumed",
    tags=["queues"],
)
async def pause_queue(
    request: Request, principal: NamedDependency[Principal], queue_id: FromPath[str]
) -> QueueView:
    return view(await _rt(request).queues.set_state(principal.tenant_id, queue_id, "paused"))


@post(
    "/v1/queues/{queue_id:str}/resume",
    dependencies={"principal": needs("admin")},
    status_code=200,
    summary="Resume a paused or draining queue",
    tags=["queues"],
)
async def resume_queue(
    request: Request, principal: NamedDependency[Principal], queue_id: FromPath[str]
) -> QueueView:
    return view(await _rt(request).queues.set_state(principal.tenant_id, queue_id, "active"))


@post(
    "/v1/queues/{queue_id:str}/drain",
    dependencies={"principal": needs("admin")},
    status_code=200,
    summary="Drain: reject new sends to the queue (409) and finish the ones it holds",
    tags=["queues"],
)
async def drain_queue(
    request: Request, principal: NamedDependency[Principal], queue_id: FromPath[str]
) -> QueueView:
    return view(await _rt(request).queues.set_state(principal.tenant_id, queue_id, "draining"))


@get(
    "/v1/queues/{queue_id:str}/stats",
    dependencies={"principal": needs("admin")},
    summary="Depth by state, age of the oldest due message, outcomes in the last hour",
    description="`depth.ready`: due now; `delayed`: scheduled or waiting for a retry; "
    "`leased`: being sent; `paused`: held by a pause.",
    tags=["queues"],
)
async def queue_stats(
    request: Request, principal: NamedDependency[Principal], queue_id: FromPath[str]
) -> QueueStatsView:
    queue, stats, age = await _rt(request).queues.stats(principal.tenant_id, queue_id)
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
