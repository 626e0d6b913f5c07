"""Retention: purge finished messages and old attachment files in small steps.

What runs: `purge()` walks, tenant by tenant, the messages created before the
`storage.retention_days` window, one `storage.purge_batch_size` step per write (each step is a
short function in the writer's next group commit, so accepts keep flowing between steps, and
after each step it rests as long as the step took: at most half the writer's time), then
old finished webhook jobs, then attachments past `storage.attachment_retention_days`. Blob
files go after the step that freed them has committed. `run()` is the housekeeping task the
Runtime spawns: a purge every `purge_interval_seconds`. The CLI's `iep purge` calls the same
`plan()` / `purge()` (against a running server too: SQLite WAL, busy retries in the writer).

What a crash leaves: committed steps stay purged; blob files freed by the last step may remain
(stray files no row refers to; nothing points at a missing file).
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from iep_appliance.blobs import Blobs
from iep_appliance.clock import Clock
from iep_appliance.domain.retention import (
    PurgePlan,
    PurgeStep,
    add_counts,
    cutoff,
    empty_counts,
)
from iep_appliance.logs import event
from iep_appliance.services.pacing import run_rounds
from iep_appliance.store.base import Store

log = logging.getLogger("iep.retention")
MAX_PAUSE = 0.5  # seconds: the longest rest between two steps
MAX_STEPS = 10_000_000  # a bound on any loop; a purge of 2e9 rows stops and resumes next run


class RetentionService:
    def __init__(
        self,
        store: Store,
        blobs: Blobs,
        clock: Clock,
        retention_days: int,
        attachment_retention_days: int,
        batch_size: int = 50,
        on_purged: Callable[[str, int], None] | None = None,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.clock = clock
        self.retention_days = retention_days
        self.attachment_retention_days = attachment_retention_days
        self.batch_size = batch_size
        self.on_purged = on_purged
        self._lock = asyncio.Lock()

    def reconfigure(
        self, retention_days: int, attachment_retention_days: int, batch_size: int
    ) -> None:
        """`[storage]` retention keys of a reloaded config: the next purge uses them."""
        self.retention_days = retention_days
        self.attachment_retention_days = attachment_retention_days
        self.batch_size = batch_size

    def cutoffs(self, now: datetime | None = None) -> tuple[str | None, str | None]:
        at = now or self.clock.now()
        return cutoff(at, self.retention_days), cutoff(at, self.attachment_retention_days)

    async def plan(self, now: datetime | None = None) -> PurgePlan:
        """What `purge(now)` would remove, changing nothing."""
        cut, acut = self.cutoffs(now)
        return await self.store.purge_plan(cut, acut)

    async def purge(
        self,
        now: datetime | None = None,
        progress: Callable[[dict[str, int]], None] | None = None,
    ) -> dict[str, int]:
        """Remove what is out of its window at `now`; returns counts per kind.
        `progress(totals so far)` runs after every step."""
        cut, acut = self.cutoffs(now)
        total = empty_counts()
        async with self._lock:  # the housekeeping task and a direct call never interleave
            if cut is not None:
                for tenant_id in await self.store.purge_tenant_ids():
                    after: tuple[str, str] | None = None
                    for _ in range(MAX_STEPS):
                        began = self.clock.monotonic()
                        step = await self.store.purge_messages_step(
                            tenant_id, cut, after, self.batch_size
                        )
                        total = await self._account(step, total, progress, began)
                        if step.done:
                            break
                        after = step.after
                for _ in range(MAX_STEPS):
                    began = self.clock.monotonic()
                    step = await self.store.purge_webhook_jobs_step(cut, self.batch_size)
                    total = await self._account(step, total, progress, began)
                    if step.done:
                        break
            if acut is not None:
                after = None
                for _ in range(MAX_STEPS):
                    began = self.clock.monotonic()
                    step = await self.store.purge_attachments_step(acut, after, self.batch_size)
                    total = await self._account(step, total, progress, began)
                    if step.done:
                        break
                    after = step.after
        return total

    async def _account(
        self,
        step: PurgeStep,
        total: dict[str, int],
        progress: Callable[[dict[str, int]], None] | None,
        began: float,
    ) -> dict[str, int]:
        if step.orphan_keys:
            await asyncio.to_thread(self._delete_files, step.orphan_keys)
        if self.on_purged is not None:
            for kind, n in step.counts.items():
                if n:
                    self.on_purged(kind, n)
        total = add_counts(total, step.counts)
        if progress is not None:
            progress(total)
        # Pace: rest as long as the step took (its write and commit), so a purge holds at most
        # about half of the writer's time and requests keep the rest.
        await self.clock.sleep(min(self.clock.monotonic() - began, MAX_PAUSE))
        return total

    def _delete_files(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            try:
                self.blobs.delete(key)
            except (OSError, ValueError):
                log.exception("retention.file_delete_failed", extra={"fields": {"key": key}})

    async def run(self, interval_seconds: Callable[[], float], stopping: asyncio.Event) -> None:
        """The housekeeping task: a purge every `interval_seconds()` (read before each wait, so
        a config reload applies) until `stopping` is set."""
        await run_rounds(
            stopping, interval_seconds, self._timed_purge, log, "retention.purge_failed"
        )

    async def _timed_purge(self) -> None:
        """One purge of the task, logged with its duration when it deleted anything."""
        started = self.clock.monotonic()
        counts = await self.purge()
        if any(counts.values()):
            seconds = round(self.clock.monotonic() - started, 3)
            event(log, "retention.purged", seconds=seconds, **counts)
