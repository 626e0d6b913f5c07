"""SqliteStore verbs of issue 7 (workflows): batches, named queues, scheduled jobs, analytics.

Mixed into SqliteStore (store.py); SQL lives in the per-aggregate modules.
"""

import sqlite3
from datetime import datetime, timedelta

from iep_appliance.domain import ids
from iep_appliance.domain.analytics import StatsQuery, StatusCount
from iep_appliance.domain.models import (
    Accepted,
    BatchAccepted,
    BatchRecord,
    BatchReplayed,
    Job,
    NewBatch,
    NewMessage,
    Queue,
    QueueStats,
    Replayed,
)
from iep_appliance.domain.schedules import ScheduledJob, ScheduledRun
from iep_appliance.store.sqlite import analytics as q_analytics
from iep_appliance.store.sqlite import batches as q_batches
from iep_appliance.store.sqlite import jobs as q_jobs
from iep_appliance.store.sqlite import messages as q_messages
from iep_appliance.store.sqlite import queues as q_queues
from iep_appliance.store.sqlite import scheduled_jobs as q_scheduled
from iep_appliance.store.sqlite.store_base import StoreBase

# Batches larger than this are written in a transaction of their own, off the event loop.
ALONE_FROM = 200


class WorkflowVerbs(StoreBase):
    # ---- batches, queues, scheduled jobs, analytics (issue 7: workflows) -----------------------

    # batches, cancellation and named queues:

    async def accept_batch(
        self, tenant_id: str, batch: NewBatch, messages: list[NewMessage]
    ) -> BatchAccepted | BatchReplayed:
        # A big batch runs off the event loop in a transaction of its own (DESIGN §1).
        write = self.db.write_alone if len(messages) > ALONE_FROM else self.db.write
        result = await write(lambda c: q_batches.accept_batch(c, tenant_id, batch, messages))
        if isinstance(result, BatchAccepted):
            self._notify(batch.scheduled_at or batch.created_at)
        return result

    async def get_batch(self, tenant_id: str, batch_id: str) -> BatchRecord | None:
        return await self.db.read(lambda c: q_batches.get_batch(c, tenant_id, batch_id))

    async def cancel_batch(self, tenant_id: str, batch_id: str) -> int | None:
        now = self._now()
        return await self.db.write(lambda c: q_batches.cancel_batch(c, tenant_id, batch_id, now))

    async def cancel_message(self, tenant_id: str, message_id: str) -> str | None:
        now = self._now()
        return await self.db.write(
            lambda c: q_messages.cancel_message(c, tenant_id, message_id, now)
        )

    async def reschedule_message(
        self, tenant_id: str, message_id: str, scheduled_at: str
    ) -> str | None:
        now = self._now()
        status = await self.db.write(
            lambda c: q_messages.reschedule_message(c, tenant_id, message_id, scheduled_at, now)
        )
        if status == "scheduled":
            self._notify(scheduled_at)
        return status

    async def create_queue(self, queue: Queue) -> Queue:
        return await self.db.write(lambda c: q_queues.insert(c, queue))

    async def default_queue(self, tenant_id: str) -> Queue:
        new_id, now = self.new_id(), self._now()
        return await self.db.write(lambda c: q_queues.ensure_default(c, tenant_id, new_id, now))

    async def get_queue(self, tenant_id: str, queue_id: str) -> Queue | None:
        return await self.db.read(lambda c: q_queues.get(c, tenant_id, queue_id))

    async def queue_by_name(self, tenant_id: str, name: str) -> Queue | None:
        return await self.db.read(lambda c: q_queues.by_name(c, tenant_id, name))

    async def list_queues(self, tenant_id: str, after: str, limit: int) -> list[Queue]:
        return await self.db.read(lambda c: q_queues.list_page(c, tenant_id, after, limit))

    async def tuned_queues(self) -> list[Queue]:
        return await self.db.read(q_queues.list_tuned)

    async def update_queue(self, queue: Queue) -> Queue | None:
        now = self._now()
        return await self.db.write(lambda c: q_queues.update(c, queue, now))

    async def set_queue_state(self, tenant_id: str, queue_id: str, state: str) -> Queue | None:
        now = self._now()
        result = await self.db.write(
            lambda c: q_queues.set_state(c, tenant_id, queue_id, state, now)
        )
        if result is not None and state != "paused":
            self._notify(now)
        return result

    async def delete_queue(self, tenant_id: str, queue_id: str) -> bool:
        return await self.db.write(lambda c: q_queues.delete(c, tenant_id, queue_id))

    async def queue_stats(self, queue_id: str, now: datetime) -> QueueStats:
        now_s, hour_ago = ids.iso(now), ids.iso(now - timedelta(hours=1))
        return await self.db.read(lambda c: q_queues.stats(c, queue_id, now_s, hour_ago))

    async def defer_jobs(self, jobs: list[Job], until: datetime, hold: list[str]) -> None:
        now, until_s = self._now(), ids.iso(until)

        def fn(conn: sqlite3.Connection) -> None:
            q_jobs.release(conn, jobs, now)  # not counted as attempts
            q_queues.set_run_at(conn, [j.id for j in jobs], until_s)
            for queue_id in hold:
                q_queues.hold(conn, queue_id, until_s, now)

        await self.db.write(fn)
        self._notify(until_s)

    # scheduled jobs (recurring sends) and delivery analytics:

    async def create_scheduled_job(self, job: ScheduledJob) -> ScheduledJob:
        return await self.db.write(lambda c: q_scheduled.insert_job(c, job))

    async def get_scheduled_job(self, tenant_id: str, job_id: str) -> ScheduledJob | None:
        return await self.db.read(lambda c: q_scheduled.get_job(c, tenant_id, job_id))

    async def list_scheduled_jobs(
        self, tenant_id: str, limit: int, after: tuple[str, str] | None
    ) -> list[ScheduledJob]:
        return await self.db.read(lambda c: q_scheduled.list_jobs(c, tenant_id, limit, after))

    async def update_scheduled_job(self, job: ScheduledJob) -> ScheduledJob | None:
        return await self.db.write(lambda c: q_scheduled.update_job(c, job))

    async def delete_scheduled_job(self, tenant_id: str, job_id: str) -> bool:
        return await self.db.write(lambda c: q_scheduled.delete_job(c, tenant_id, job_id))

    async def due_scheduled_jobs(self, now: datetime, limit: int) -> list[ScheduledJob]:
        now_s = ids.iso(now)
        return await self.db.read(lambda c: q_scheduled.due_jobs(c, now_s, limit))

    async def next_scheduled_run_at(self) -> datetime | None:
        value = await self.db.read(q_scheduled.next_due)
        return ids.parse_iso(value) if value else None

    async def accept_scheduled_message(
        self,
        tenant_id: str,
        job_id: str,
        revision: int | None,
        tick: str,
        msg: NewMessage,
        next_run_at: str | None,
    ) -> Accepted | Replayed:
        result = await self.db.write(
            lambda c: q_scheduled.accept_run_message(
                c, tenant_id, job_id, revision, tick, msg, msg.created_at, next_run_at
            )
        )
        if isinstance(result, Accepted):
            self._notify(msg.scheduled_at or msg.created_at)
        return result

    async def record_scheduled_run(
        self,
        tenant_id: str,
        job_id: str,
        revision: int | None,
        run: ScheduledRun,
        next_run_at: str | None,
    ) -> ScheduledRun:
        return await self.db.write(
            lambda c: q_scheduled.record_run(c, tenant_id, job_id, revision, run, next_run_at)
        )

    async def list_scheduled_runs(
        self, tenant_id: str, job_id: str, limit: int, before: tuple[str, str] | None
    ) -> list[ScheduledRun]:
        return await self.db.read(
            lambda c: q_scheduled.list_runs(c, tenant_id, job_id, limit, before)
        )

    async def delivery_stats(self, tenant_id: str, q: StatsQuery) -> list[StatusCount]:
        return await self.db.read(lambda c: q_analytics.bucket_counts(c, tenant_id, q))

    async def stats_totals(self, tenant_id: str, q: StatsQuery) -> dict[str, int]:
        return await self.db.read(lambda c: q_analytics.totals(c, tenant_id, q))

    async def message_backlog(self, tenant_id: str) -> dict[str, dict[str, int]]:
        return await self.db.read(lambda c: q_analytics.queue_depths(c, tenant_id))
