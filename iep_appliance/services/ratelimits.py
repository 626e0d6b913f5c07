"""Per-tenant send limits (minute, hour, day) counted in memory and kept on disk.

The hot path never reads the database for a count: `check` decides with `domain.ratelimit`
over in-memory counters and reserves the messages at once (no await between decision and
increment, so concurrent requests cannot overshoot). `refund` gives back a reservation whose
request was rejected or replayed, so only accepted messages count.

Durability: increments are written through the store's group-commit writer by one flusher
task, woken by every reservation; while one flush is being committed the next increments
gather, so under load there is at most one small upsert per group commit, usually in the
same commit as the messages it counts. `load` reads the current windows back at start, so a
restart keeps them. A crash loses at most the increments of the flush not yet committed.
With several worker processes (or nodes) on one store (`shared = True`), counting
in memory would let each count alone: then every check is one atomic read-decide-increment in
the store instead (`Store.reserve_rate`, in the group commit), exact across processes.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.errors import RateLimited
from iep_appliance.domain.models import Principal, RateLimits
from iep_appliance.domain.ratelimit import Limits, RateDecision, check, window_starts
from iep_appliance.store.base import Store

log = logging.getLogger("iep.ratelimits")

WindowKey = tuple[str, str, str]  # (tenant_id, window, start)


@dataclass(slots=True)
class _Window:
    start: str
    count: int


def effective_limits(tenant: RateLimits, defaults: Limits) -> Limits:
    """A tenant's own value wins (0 = unlimited); `None` falls back to the config default."""
    return Limits(
        per_minute=tenant.max_per_minute
        if tenant.max_per_minute is not None
        else defaults.per_minute,
        per_hour=tenant.max_per_hour if tenant.max_per_hour is not None else defaults.per_hour,
        per_day=tenant.max_per_day if tenant.max_per_day is not None else defaults.per_day,
    )


def headers_of(decision: RateDecision) -> dict[str, str]:
    if decision.limit is None:
        return {}
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset_seconds),
    }


class RateLimitService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        defaults: Limits,
        tenant_limits: Callable[[str], Awaitable[RateLimits]],
        on_hit: Callable[[str], None] | None = None,
        shared: bool = False,
    ) -> None:
        self.store = store
        self.clock = clock
        self.defaults = defaults
        self.tenant_limits = tenant_limits
        self.on_hit = on_hit
        self._counts: dict[str, dict[str, _Window]] = {}  # tenant_id -> window name -> count
        self._dirty: dict[WindowKey, int] = {}
        self._wanted = asyncio.Event()
        self._purged_for = ""
        self.shared = shared  # other processes on the store: count there, exact across them
        self._refunds: set[asyncio.Task[None]] = set()

    # ---- the hot path ------------------------------------------------------------------------

    def reconfigure(self, defaults: Limits) -> None:
        """`[limits]` of a reloaded config: the defaults of tenants that set none."""
        self.defaults = defaults

    def release(self, principal: Principal, n: int) -> None:
        """Give back `n` messages reserved by `check` that were not accepted."""
        self.refund(principal.tenant_id, n)

    async def check(self, principal: Principal, n: int) -> dict[str, str]:
        """Reserve `n` messages for the tenant; the X-RateLimit-* headers, or RateLimited."""
        tenant_id = principal.tenant_id
        limits = effective_limits(await self.tenant_limits(tenant_id), self.defaults)
        if not limits.by_window():
            return {}
        if self.shared:
            return self._decided(tenant_id, await self.store.reserve_rate(tenant_id, limits, n))
        now = self.clock.now()
        starts = self._starts(now)
        windows = self._windows(tenant_id, starts)
        decision = check(limits, {name: w.count for name, w in windows.items()}, now, n)
        headers = headers_of(decision)
        if not decision.allowed:
            if self.on_hit is not None:
                self.on_hit(tenant_id)
            raise RateLimited(retry_after=decision.retry_after or 1, headers=headers)
        self._add(tenant_id, windows, n)
        return headers

    def _decided(self, tenant_id: str, decision: RateDecision) -> dict[str, str]:
        headers = headers_of(decision)
        if not decision.allowed:
            if self.on_hit is not None:
                self.on_hit(tenant_id)
            raise RateLimited(retry_after=decision.retry_after or 1, headers=headers)
        return headers

    def refund(self, tenant_id: str, n: int) -> None:
        """Give back `n` reserved messages that were not accepted (rejected or replayed)."""
        if self.shared:
            task = asyncio.get_running_loop().create_task(self.store.refund_rate(tenant_id, n))
            self._refunds.add(task)
            task.add_done_callback(self._refunds.discard)
            return
        windows = self._counts.get(tenant_id)
        if not windows:
            return
        starts = self._starts(self.clock.now())
        current = {name: w for name, w in windows.items() if w.start == starts[name]}
        self._add(tenant_id, current, -n)

    def _starts(self, now: datetime) -> dict[str, str]:
        return {name: ids.iso(start) for name, start in window_starts(now).items()}

    def _windows(self, tenant_id: str, starts: dict[str, str]) -> dict[str, _Window]:
        windows = self._counts.setdefault(tenant_id, {})
        for name, start in starts.items():
            held = windows.get(name)
            if held is None or held.start != start:
                windows[name] = _Window(start, 0)
        return windows

    def _add(self, tenant_id: str, windows: dict[str, _Window], n: int) -> None:
        for name, held in windows.items():
            before = held.count
            held.count = max(0, before + n)
            key = (tenant_id, name, held.start)
            self._dirty[key] = self._dirty.get(key, 0) + (held.count - before)
        self._wanted.set()

    # ---- durability --------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the windows that are current now (call once at start, before any check)."""
        starts = self._starts(self.clock.now())
        for found in await self.store.load_rate_windows(starts):
            window = found.window
            self._counts.setdefault(found.tenant_id, {})[window] = _Window(
                starts[window], found.count
            )

    async def flush(self) -> None:
        """Write the increments gathered since the last flush (and drop ended windows)."""
        if self._refunds:
            await asyncio.gather(*self._refunds, return_exceptions=True)
        if not self._dirty:
            return
        deltas, self._dirty = self._dirty, {}
        starts = self._starts(self.clock.now())
        purge = starts if starts["minute"] != self._purged_for else {}
        try:
            await self.store.add_rate_counts(deltas, purge)
        except Exception:  # rolled back: keep them for the next flush. (A cancelled await
            # is not a failure: the write was already queued and still commits.)
            for key, n in deltas.items():
                self._dirty[key] = self._dirty.get(key, 0) + n
            raise
        if purge:
            self._purged_for = starts["minute"]

    async def purge_ended(self) -> None:
        """Drop the windows that ended (counted in the store when shared: one process, the
        singletons' one, does it; the only process does it in `flush`)."""
        if self.shared:
            await self.store.add_rate_counts({}, self._starts(self.clock.now()))

    async def run(self) -> None:
        """The flusher task (spawned by Runtime): flush whenever something was reserved."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("ratelimits.flush_failed")
                await asyncio.sleep(1.0)
                self._wanted.set()
