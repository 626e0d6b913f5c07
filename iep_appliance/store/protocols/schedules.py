"""Scheduled jobs (recurring sends) and the record of their ticks."""

from datetime import datetime
from typing import Protocol

from iep_appliance.domain.models import (
    Accepted,
    NewMessage,
    Replayed,
)
from iep_appliance.domain.schedules import ScheduledJob, ScheduledRun


class ScheduleStore(Protocol):
    async def create_scheduled_job(self, job: ScheduledJob) -> ScheduledJob: ...
    async def get_scheduled_job(self, tenant_id: str, job_id: str) -> ScheduledJob | None: ...
    async def list_scheduled_jobs(
        self, tenant_id: str, limit: int, after: tuple[str, str] | None
    ) -> list[ScheduledJob]:
        """Oldest first, after the (created_at, id) of the last job seen."""

    async def update_scheduled_job(self, job: ScheduledJob) -> ScheduledJob | None:
        """Replace the editable fields and bump the revision. None when it does not exist."""

    async def delete_scheduled_job(self, tenant_id: str, job_id: str) -> bool:
        """The job and its run records."""

    async def due_scheduled_jobs(self, now: datetime, limit: int) -> list[ScheduledJob]:
        """Active jobs of every tenant whose next_run_at is at or before `now`."""

    async def next_scheduled_run_at(self) -> datetime | None: ...
    async def accept_scheduled_message(
        self,
        tenant_id: str,
        job_id: str,
        revision: int | None,
        tick: str,
        msg: NewMessage,
        next_run_at: str | None,
    ) -> Accepted | Replayed:
        """The message of one tick + the tick's run record + the job's next tick, in one
        transaction; a tick already on record replays its message. `revision` is the job
        revision the tick was computed from (None: a run-now, the schedule stays). Raises
        NotFound when the job is gone, Conflict when a cron tick finds it paused."""

    async def record_scheduled_run(
        self,
        tenant_id: str,
        job_id: str,
        revision: int | None,
        run: ScheduledRun,
        next_run_at: str | None,
    ) -> ScheduledRun:
        """Record a tick whose messages were written by another verb (a batch) or that created
        nothing (`run.error`), and move the schedule. Returns the run on record."""

    async def list_scheduled_runs(
        self, tenant_id: str, job_id: str, limit: int, before: tuple[str, str] | None
    ) -> list[ScheduledRun]:
        """Newest first, before the (created_at, tick) of the last run seen."""
