"""The JobStore verbs (store/protocols/jobs.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

import sqlite3
from collections.abc import Collection
from datetime import datetime, timedelta

from iep_appliance.domain import ids
from iep_appliance.domain.models import (
    Completion,
    Job,
)
from iep_appliance.domain.trace_context import current_traceparent
from iep_appliance.store.sqlite import jobs as q_jobs
from iep_appliance.store.sqlite import queues as q_queues
from iep_appliance.store.sqlite.store_base import StoreBase
from iep_appliance.store.sqlite.traces import last_job_id, trace_webhook_jobs


class JobVerbs(StoreBase):
    async def claim_due(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        lane: int = 0,
        lane_from: int = 0,
        hold_queues: tuple[str, ...] = (),
        hold_until: datetime | None = None,
    ) -> list[Job]:
        now_s, until = ids.iso(now), ids.iso(now + lease)
        hold_s = ids.iso(hold_until) if hold_until else None
        return await self.db.write(
            lambda c: q_jobs.claim_due(
                c, now_s, until, limit, lane, lane_from, hold_queues, hold_s, self.node_id
            )
        )

    async def finish_sends(self, completions: list[Completion]) -> None:
        now = self._now()
        attempts = self.webhook_attempts
        traceparent = current_traceparent.get()  # the webhook jobs continue the send's trace

        def fn(conn: sqlite3.Connection) -> list[str]:
            wake = []
            before = last_job_id(conn) if traceparent is not None else 0
            for c in completions:
                q_jobs.finish_send(conn, c, now, attempts)
                if c.retry_at:
                    wake.append(c.retry_at)
                if c.webhook_event:
                    wake.append(now)
            if traceparent is not None:
                trace_webhook_jobs(conn, before, traceparent)
            return wake

        for run_at in await self.db.write(fn):
            self._notify(run_at)

    async def release(self, jobs: list[Job]) -> None:
        now = self._now()
        await self.db.write(lambda c: q_jobs.release(c, jobs, now))

    async def defer_jobs(self, jobs: list[Job], until: datetime, hold: list[str]) -> None:
        now, until_s = self._now(), ids.iso(until)

        def fn(conn: sqlite3.Connection) -> None:
            q_jobs.release(conn, jobs, now)  # not counted as attempts
            q_queues.set_run_at(conn, [j.id for j in jobs], until_s)
            for queue_id in hold:
                q_queues.hold(conn, queue_id, until_s, now)

        await self.db.write(fn)
        self._notify(until_s)

    async def bury_job(self, job_id: int, error: str) -> None:
        now = self._now()
        await self.db.write(lambda c: q_jobs.bury(c, job_id, error, now))

    async def fail_job(self, job: Job, error: str, retry_at: datetime | None) -> None:
        now = self._now()
        at = ids.iso(retry_at) if retry_at is not None else None
        await self.db.write(lambda c: q_jobs.fail(c, job, error, at, now))
        if at is not None:
            self._notify(at)

    async def release_all_leases(self) -> int:
        now = self._now()
        return await self.db.write(lambda c: q_jobs.release_all(c, now))

    async def release_expired_leases(self, now: datetime, keep: Collection[int] = ()) -> int:
        now_s = ids.iso(now)
        kept = list(keep)
        n = await self.db.write(lambda c: q_jobs.release_expired(c, now_s, kept))
        if n:
            self._notify(now_s)
        return n

    async def next_run_at(self) -> datetime | None:
        value = await self.db.read(q_jobs.next_run_at)
        return ids.parse_iso(value) if value else None

    async def queue_depth(self) -> dict[str, int]:
        return await self.db.read(q_jobs.depth)

    async def oldest_ready_at(self, now: datetime) -> datetime | None:
        now_s = ids.iso(now)
        value = await self.db.read(lambda c: q_jobs.oldest_ready(c, now_s))
        return ids.parse_iso(value) if value else None

    async def count_due(self, now: datetime) -> int:  # the backlog gauge
        now_s = ids.iso(now)
        return await self.db.read(lambda c: q_jobs.count_due(c, now_s))
