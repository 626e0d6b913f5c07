"""The durable job queue: claiming due jobs under a lease, recording send outcomes,
releasing, deferring and dead-lettering jobs, and the queue's gauges."""

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Protocol

from iep_appliance.domain.models import (
    Completion,
    Job,
)


class JobStore(Protocol):
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
        """Lease up to `limit` due jobs (rank, then age); their messages → processing.

        `lane` of them come from the fair-share lane: ranks ≥ `lane_from`, wrapping to the top
        (domain/queues.py). Jobs of paused queues are never claimed; due jobs of `hold_queues`
        (over their rate limit) wait until `hold_until` instead."""

    async def finish_sends(self, completions: list[Completion]) -> None:
        """Record send outcomes (job, message, events, bounces, webhook jobs) in one commit."""

    async def release(self, jobs: list[Job]) -> None:
        """Hand unstarted claims back (shutdown); they do not count as attempts."""

    async def defer_jobs(self, jobs: list[Job], until: datetime, hold: list[str]) -> None:
        """Give back claimed jobs (not attempts) due at `until`, and hold the due backlog of
        the `hold` queues until then (a queue over its rate limit)."""

    async def bury_job(self, job_id: int, error: str) -> None:
        """Dead-letter a claimed job that cannot run (a kind nothing handles)."""

    async def fail_job(self, job: Job, error: str, retry_at: datetime | None) -> None:
        """A claimed job whose handling crashed (the attempt counts, §10.1): ready again at
        `retry_at`, or dead when None. A send job's message follows: `queued` with a
        `retry_scheduled` event, or `failed` with `failed` and `dlq` events. Only the job
        and message rows are touched, so it records what a richer write could not."""

    async def release_all_leases(self) -> int:
        """Single node start: every lease is stale."""

    async def release_expired_leases(self, now: datetime, keep: Collection[int] = ()) -> int:
        """Make expired leases claimable again, except those of the jobs in `keep` (still
        being worked on here, e.g. a completion waiting for the store to commit again)."""

    async def next_run_at(self) -> datetime | None: ...
    async def queue_depth(self) -> dict[str, int]: ...
    async def oldest_ready_at(self, now: datetime) -> datetime | None: ...
    async def count_due(self, now: datetime) -> int:
        """Send jobs ready with run_at <= now (the backlog gauge and its alert)."""
