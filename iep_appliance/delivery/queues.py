"""The delivery engine's side of named queues: fair claims, rate limits, retry schedules.

Per scheduler step: `plan(n)` gives the claim its fair-share lane and the queues whose
rate budget for this minute is spent (domain/queues.py explains the policy); `admit(jobs)`
counts the claimed send jobs against their queue's budget and hands what does not fit back
to the next minute (not counted as an attempt) together with that queue's due backlog, so
the claim never walks over a throttled backlog. `schedule_of(job)` is the queue's retry
schedule when it overrides `[delivery].retry_schedule` (the engine sends with it).

Queue settings come from `Store.tuned_queues` (queues with a rate or a schedule), refreshed
every few seconds and at once after a local change. Budgets live in memory, per node: a
restart starts a fresh minute, and N nodes would allow N times a queue's rate.
"""

import math
from datetime import datetime

import msgspec

from iep_appliance.clock import Clock
from iep_appliance.domain.models import Job, Queue
from iep_appliance.domain.queues import FairShare, QueueBudget, minute_window
from iep_appliance.store.base import Store

REFRESH_SECONDS = 5.0


class ClaimPlan(msgspec.Struct, frozen=True):
    """What the next claim takes: its fair-share lane, and the queues to hold (over rate)."""

    lane: int
    lane_from: int
    hold_queues: tuple[str, ...]
    hold_until: datetime | None


class QueueGate:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.fair = FairShare()
        self.budget = QueueBudget()
        self._tuned: dict[str, Queue] = {}
        self._loaded_at = -math.inf

    def invalidate(self, tenant_id: str | None = None) -> None:
        """Reload queue settings before the next claim (a queue changed)."""
        self._loaded_at = -math.inf

    async def _refresh(self) -> None:
        if self.clock.monotonic() - self._loaded_at < REFRESH_SECONDS:
            return
        self._tuned = {q.id: q for q in await self.store.tuned_queues()}
        self._loaded_at = self.clock.monotonic()

    async def plan(self, n: int) -> ClaimPlan:
        await self._refresh()
        _strict, lane, lane_from = self.fair.split(n)
        now = self.clock.now()
        limits = {q.id: q.rate_per_minute for q in self._tuned.values() if q.rate_per_minute}
        throttled = tuple(self.budget.throttled(limits, now))
        return ClaimPlan(
            lane=lane,
            lane_from=lane_from,
            hold_queues=throttled,
            hold_until=minute_window(now)[1] if throttled else None,
        )

    async def admit(self, jobs: list[Job], plan: ClaimPlan) -> list[Job]:
        """The claimed jobs that fit their queue's budget; the rest go back to the next minute."""
        self.fair.claimed([j.priority for j in jobs], plan.lane)
        now = self.clock.now()
        over: list[Job] = []
        for job in jobs:
            queue = self._tuned.get(job.queue_id) if job.queue_id else None
            if queue is None or not queue.rate_per_minute:
                continue
            if not self.budget.take(queue.id, 1, queue.rate_per_minute, now):
                over.append(job)
        if not over:
            return jobs
        _, window_end = minute_window(now)
        held = sorted({j.queue_id for j in over if j.queue_id})
        await self.store.defer_jobs(over, window_end, held)
        deferred = {j.id for j in over}
        return [j for j in jobs if j.id not in deferred]

    def schedule_of(self, job: Job) -> tuple[int, ...] | None:
        """The job's queue's retry schedule when it overrides the config's."""
        queue = self._tuned.get(job.queue_id) if job.queue_id else None
        return queue.retry_schedule if queue is not None else None
