"""The change feed: what one process changed, every process on the store forgets.

A key revoked or rotated, a tenant's rules (settings, domains, deactivation), a named queue:
the process that made the change drops its own caches at once (as before) and appends one row
to the store's `changes` table; every process polls for rows after the last it saw, every
`POLL_SECONDS`, and drops the same caches. So a revocation is seen by every worker (and, on a
shared PostgreSQL, every node) within a poll, without a message bus. The poll is one
indexed read of an empty result most of the time.

The kinds are listed in domain/changes.py. wiring.py builds the feed first, gives each service
its `note` as the service's `on_change` callback, and says here (`on`) how each kind is applied
in the processes that did not make the change.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from iep_appliance.clock import Clock
from iep_appliance.logs import event
from iep_appliance.services.pacing import run_rounds
from iep_appliance.store.base import Store

log = logging.getLogger("iep.changes")
POLL_SECONDS = 0.25
KEEP = timedelta(hours=1)  # older rows are purged (a process down longer restarts cold)

Handler = Callable[[str], object]


class ChangeFeed:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.handlers: dict[str, list[Handler]] = {}
        self._seen = 0
        self._writes: set[asyncio.Task[object]] = set()

    def on(self, kind: str, handler: Handler) -> None:
        """Call `handler(ref)` for every change of `kind` noted by any process (this one too)."""
        self.handlers.setdefault(kind, []).append(handler)

    def note(self, kind: str, ref: str) -> None:
        """Tell the other processes (fire and forget: the caller already dropped its caches)."""
        try:
            task = asyncio.get_running_loop().create_task(self._note(kind, ref))
        except RuntimeError:  # no loop (a synchronous CLI path): nobody else to tell in time
            return
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _note(self, kind: str, ref: str) -> None:
        try:
            await self.store.note_change(kind, ref)
        except Exception:
            log.exception("changes.note_failed")

    async def flush(self) -> None:
        """Wait for the notes not yet written (at stop)."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    async def start(self) -> None:
        self._seen = await self.store.last_change()

    async def poll(self) -> int:
        """Apply the changes noted since the last poll; how many."""
        rows = await self.store.changes_after(self._seen)
        for change in rows:
            self._seen = change.id
            for handler in self.handlers.get(change.kind, ()):
                try:
                    result = handler(change.ref)
                    if asyncio.iscoroutine(result):
                        await result
                except Exception:
                    log.exception("changes.apply_failed")
            # One line a change (they are rare: a revocation, a tenant's rules, a hold): says
            # when this process has applied it, which the 1-second promise is measured by.
            event(log, "changes.applied", kind=change.kind, ref=change.ref)
        return len(rows)

    async def run(self, stopping: asyncio.Event) -> None:
        """The poller (spawned by Runtime in every process)."""
        await run_rounds(stopping, lambda: POLL_SECONDS, self.poll, log, "changes.poll_failed")

    async def purge(self) -> None:
        await self.store.purge_changes(self.clock.now() - KEEP)
