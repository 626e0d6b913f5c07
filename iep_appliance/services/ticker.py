"""The ticker: runs the due ticks of every tenant's scheduled jobs.

What runs: one task (started by Runtime with `rt.spawn`) loops `run_due(now)` → sleep until
the earliest `nextRunAt` of any active job, at most 60 s (so a changed wall clock is noticed),
woken early when a job is created, updated or deleted. `run_due` may also be called directly
(tests pass a FakeClock's `now`); a lock keeps two callers from interleaving.

Catch-up policy: when a job's ticks were missed (the process was down, or busy), only the
LATEST missed tick runs, once; the earlier ones are skipped (logged as
`scheduled_job.ticks_skipped`) and the schedule continues from now. A recurring send is "the
current digest", not a backlog: after a day offline a product wants one digest, not 1,440 of
them. A job paused and resumed, or given a new cron or timezone, catches nothing up.

What a crash leaves: nothing to repair. Each tick's run record commits with its messages
(see `services/scheduled_jobs.py`), so on restart a tick that committed is skipped by its
primary key and a tick that did not commit is simply due again. A tick whose run raises is
recorded as a failed run (spent, like a rejected one), so a failing job is never retried
every second for ever; only when even that record cannot be written does it stay due.
"""

import asyncio
import logging
from datetime import datetime

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.schedules import CronSpec, ScheduledJob, due_tick, next_tick
from iep_appliance.logs import event
from iep_appliance.services.scheduled_jobs import ScheduledJobService
from iep_appliance.store.base import Store

log = logging.getLogger("iep.ticker")
MAX_SLEEP = 60.0
BATCH = 100
# A job whose tick failed to record stays due; back off this much instead of spinning.
RETRY_SLEEP = 1.0


class Ticker:
    def __init__(self, service: ScheduledJobService, store: Store, clock: Clock) -> None:
        self.service = service
        self.store = store
        self.clock = clock
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        service.on_change.append(self.wake)

    def wake(self) -> None:
        """Recompute the next wake-up now (a job changed, or a test moved the clock)."""
        self._wake.set()

    async def run_due(self, now: datetime | None = None) -> int:
        """Run every tick due at `now` (default: the clock's now). Returns how many ticks ran
        without a rejection (a tick already on record replays and counts too)."""
        at = self.clock.now() if now is None else now
        ran = 0
        async with self._lock:
            for _ in range(1000):  # bounded: BATCH jobs per round
                due = await self.store.due_scheduled_jobs(at, BATCH)
                progressed = 0
                for job in due:
                    assert job.next_run_at is not None
                    spec = CronSpec(job.cron, job.timezone)
                    scheduled = ids.parse_iso(job.next_run_at)
                    tick = due_tick(spec, scheduled, at)
                    if tick is None:
                        continue
                    if tick != scheduled:
                        event(
                            log,
                            "scheduled_job.ticks_skipped",
                            jobId=job.id,
                            firstMissed=job.next_run_at,
                            running=ids.iso(tick),
                        )
                    upcoming = next_tick(spec, max(tick, at))
                    try:
                        run = await self.service.run_tick(job, tick, upcoming)
                    except Exception as exc:
                        log.exception(
                            "scheduled_job.run_failed", extra={"fields": {"jobId": job.id}}
                        )
                        if not await self._spend_tick(job, tick, upcoming, exc):
                            continue
                        run = None
                    progressed += 1
                    if run is not None and run.error is None:
                        ran += 1
                if len(due) < BATCH or not progressed:
                    break
        return ran

    async def _spend_tick(
        self, job: ScheduledJob, tick: datetime, upcoming: datetime | None, exc: Exception
    ) -> bool:
        """Record a tick whose run raised as failed, so it is not retried every second for
        ever (§10.1). False when that cannot be recorded either (the store is failing)."""
        text = str(exc)
        error = f"crashed: {type(exc).__name__}" + (f": {text}"[:300] if text else "")
        try:
            await self.service.record_crashed_tick(job, tick, upcoming, error)
        except Exception:
            log.exception("scheduled_job.crash_not_recorded", extra={"fields": {"jobId": job.id}})
            return False
        return True

    async def run(self) -> None:
        """The ticker task: never returns; cancelled by Runtime at stop."""
        while True:
            self._wake.clear()
            delay = MAX_SLEEP
            try:
                at = self.clock.now()
                await self.run_due(at)
                upcoming = await self.store.next_scheduled_run_at()
                if upcoming is not None:
                    delay = min((upcoming - self.clock.now()).total_seconds(), MAX_SLEEP)
                    if upcoming <= at:  # still due after a round: failing, do not spin
                        delay = RETRY_SLEEP
            except Exception:
                log.exception("ticker.failed")
                delay = RETRY_SLEEP
            if delay > 0:
                await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        """Until woken or `seconds` pass. Not `asyncio.wait_for`: on Python 3.11 it swallows a
        cancellation that arrives just as the event is set, and the task would never stop."""
        waiter = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({waiter}, timeout=seconds)
        finally:
            waiter.cancel()
