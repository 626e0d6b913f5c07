"""Named queues: the use cases behind /v1/queues and the queue lookup of every send.

A tenant's `default` queue exists implicitly: it is created the first time anything needs it.
`resolve` is on the send path, so it is cached per (tenant, name) for a few seconds and
dropped on every local change; the accepting transaction re-checks the queue's state, so a
stale cache can never let a send into a draining queue.
"""

from collections.abc import Callable

import msgspec

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain import queues as rules
from iep_appliance.domain.errors import FieldError, NotFound, ValidationFailed, or_not_found
from iep_appliance.domain.models import (
    DEFAULT_QUEUE,
    Queue,
    QueueCreate,
    QueuePatch,
    QueueStats,
)
from iep_appliance.store.base import Store


class QueueService:
    def __init__(
        self, store: Store, clock: Clock, default_schedule: tuple[int, ...], ttl: float = 5.0
    ) -> None:
        self.store = store
        self.clock = clock
        self.default_schedule = default_schedule
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[Queue, float]] = {}
        self.on_change: list[Callable[[str], None]] = []  # called with the tenant id

    # ---- the send path ------------------------------------------------------------------------

    async def resolve(self, tenant_id: str, name: str | None) -> Queue:
        """The queue a send names (`default` when none). Raises ValidationFailed naming
        `queue` when the tenant has no such queue. (A draining queue is refused by the
        accepting transaction, after the idempotency check: a replay still answers 200.)"""
        name = name or DEFAULT_QUEUE
        key = (tenant_id, name)
        hit = self._cache.get(key)
        if hit is not None and self.clock.monotonic() - hit[1] < self.ttl:
            found: Queue | None = hit[0]
        else:
            found = await self.store.queue_by_name(tenant_id, name)
            if found is None and name == DEFAULT_QUEUE:
                found = await self.store.default_queue(tenant_id)
            if found is not None:
                self._cache[key] = (found, self.clock.monotonic())
        if found is None:
            raise ValidationFailed([FieldError("queue", f"unknown queue {name!r}")])
        return found

    def schedule_of(self, queue: Queue) -> tuple[int, ...]:
        return queue.retry_schedule if queue.retry_schedule is not None else self.default_schedule

    def max_attempts(self, queue: Queue) -> int:
        return rules.max_attempts(self.schedule_of(queue))

    # ---- admin ----------------------------------------------------------------------------------

    async def list(
        self, tenant_id: str, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Queue], str | None]:
        if not 1 <= limit <= 200:
            raise ValidationFailed([FieldError("limit", "must be between 1 and 200")])
        if cursor is None:
            await self.store.default_queue(tenant_id)  # so the first page always lists it
        items = await self.store.list_queues(tenant_id, cursor or "", limit)
        return items, items[-1].name if len(items) == limit else None

    async def create(self, tenant_id: str, req: QueueCreate) -> Queue:
        rules.check_name(req.name)
        now = ids.iso(self.clock.now())
        queue = Queue(
            id=self.clock.new_id(),
            tenant_id=tenant_id,
            name=req.name,
            priority=req.priority,
            rate_per_minute=req.rate_per_minute,
            retry_schedule=tuple(req.retry_schedule) if req.retry_schedule is not None else None,
            state="active",
            created_at=now,
            updated_at=now,
        )
        if req.name == DEFAULT_QUEUE:
            await self.store.default_queue(tenant_id)  # exists implicitly: a clear 409
        created = await self.store.create_queue(queue)
        self._changed(tenant_id)
        return created

    async def get(self, tenant_id: str, queue_ref: str) -> Queue:
        """A queue by its id or by its name (`/v1/queues/bulk/stats`)."""
        found = await self.store.get_queue(tenant_id, queue_ref)
        if found is None:
            found = await self.store.queue_by_name(tenant_id, queue_ref)
        if found is None and queue_ref == DEFAULT_QUEUE:
            found = await self.store.default_queue(tenant_id)
        if found is None:
            raise NotFound("Queue not found")
        return found

    async def update(self, tenant_id: str, queue_id: str, patch: QueuePatch) -> Queue:
        current = await self.get(tenant_id, queue_id)
        changes: dict[str, object] = {}
        if patch.priority is not msgspec.UNSET:
            changes["priority"] = patch.priority
        if patch.rate_per_minute is not msgspec.UNSET:
            changes["rate_per_minute"] = patch.rate_per_minute
        if patch.retry_schedule is not msgspec.UNSET:
            schedule = patch.retry_schedule
            changes["retry_schedule"] = tuple(schedule) if schedule is not None else None
        updated = or_not_found(
            await self.store.update_queue(msgspec.structs.replace(current, **changes)),
            "Queue not found",
        )
        self._changed(tenant_id)
        return updated

    async def set_state(self, tenant_id: str, queue_id: str, state: str) -> Queue:
        """pause → paused, resume → active, drain → draining."""
        queue_id = (await self.get(tenant_id, queue_id)).id
        updated = or_not_found(
            await self.store.set_queue_state(tenant_id, queue_id, state), "Queue not found"
        )
        self._changed(tenant_id)
        return updated

    async def delete(self, tenant_id: str, queue_id: str) -> None:
        queue_id = (await self.get(tenant_id, queue_id)).id
        if not await self.store.delete_queue(tenant_id, queue_id):
            raise NotFound("Queue not found")
        self._changed(tenant_id)

    async def stats(self, tenant_id: str, queue_id: str) -> tuple[Queue, QueueStats, float | None]:
        """The queue, its stats, and how long its oldest due job has waited (seconds)."""
        queue = await self.get(tenant_id, queue_id)
        now = self.clock.now()
        stats = await self.store.queue_stats(queue.id, now)
        age = None
        if stats.oldest_due_at is not None:
            waited = (now - ids.parse_iso(stats.oldest_due_at)).total_seconds()
            age = round(max(0.0, waited), 3)
        return queue, stats, age

    def _changed(self, tenant_id: str) -> None:
        for key in [k for k in self._cache if k[0] == tenant_id]:
            del self._cache[key]
        for hook in self.on_change:
            hook(tenant_id)
