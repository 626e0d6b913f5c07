"""The ScheduleStore verbs (store/protocols/schedules.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

from datetime import datetime

from iep_appliance.domain import ids
from iep_appliance.domain.models import (
    Accepted,
    NewMessage,
    Replayed,
)
from iep_appliance.domain.schedules import ScheduledJob, ScheduledRun
from iep_appliance.store.sqlite import scheduled_jobs as q_scheduled
from iep_appliance.store.sqlite.store_base import StoreBase


class ScheduleVerbs(StoreBase):
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
