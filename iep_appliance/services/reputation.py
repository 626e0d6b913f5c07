"""Reputation per tenant and its hold (DESIGN §10.3).

The rates: bounces and complaints over `[reputation] window_days`, counted from the last
resume on (so an operator's resume is not undone by the same old window: the tenant must
pass `min_messages` again with new mail). The hold: a tenant over a pause threshold is held
(`enforce`, run by housekeeping and after each inbound effect): its sends are still accepted
and queued, the sender defers its jobs without spending attempts (`is_held`, read on the hot
path from memory), one `tenant.paused` webhook goes out per hold. `resume` (the dashboard's
button) ends the hold and makes the held mail due at once.
"""

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import msgspec

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.reputation import Reputation, assess
from iep_appliance.logs import event
from iep_appliance.store.base import Store

log = logging.getLogger("iep.reputation")


class DayRates(msgspec.Struct, frozen=True):
    day: str  # YYYY-MM-DD (UTC)
    messages: int
    bounce_rate: float
    complaint_rate: float


class ReputationService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        cfg: Any,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.cfg = cfg
        self._held: set[str] = set()
        self._resumed: dict[str, str] = {}
        self.on_resume: list[Callable[[str], None]] = []
        # A tenant held or resumed here: the change feed tells the other processes to reload.
        self.on_change = on_change

    async def load(self) -> None:
        """Read the holds from the store (at start, and after a change)."""
        holds = await self.store.reputation_holds()
        self._held = {t for t, h in holds.items() if h.held_since}
        self._resumed = {t: h.resumed_at for t, h in holds.items() if h.resumed_at}

    def is_held(self, tenant_id: str) -> bool:
        return tenant_id in self._held

    def _since(self, tenant_id: str) -> str:
        since = ids.iso(self.clock.now() - timedelta(days=self.cfg.window_days))
        resumed = self._resumed.get(tenant_id)
        return max(since, resumed) if resumed else since

    async def of(self, tenant_id: str) -> Reputation:
        """The rates since the window's start (or the last resume); `paused` while held."""
        counts = await self.store.reputation_counts(tenant_id, self._since(tenant_id))
        rep = assess(
            counts.messages,
            counts.bounced,
            counts.complaints,
            window_days=self.cfg.window_days,
            pause_bounce_rate=self.cfg.pause_bounce_rate,
            pause_complaint_rate=self.cfg.pause_complaint_rate,
            min_messages=self.cfg.min_messages,
        )
        if self.is_held(tenant_id) and rep.state != "paused":
            rep = msgspec.structs.replace(rep, state="paused")
        return rep

    async def enforce(self, tenant_ids: Iterable[str] | None = None) -> list[str]:
        """Hold every tenant (of `tenant_ids`, default all) over a pause threshold and not held
        yet. Returns the ids newly held."""
        if tenant_ids is None:
            tenant_ids = [t.id for t in await self.store.list_tenants()]
        newly = []
        for tenant_id in tenant_ids:
            if self.is_held(tenant_id):
                continue
            rep = await self.of(tenant_id)
            if rep.state != "paused":
                continue
            data: dict[str, Any] = {
                "reason": "bounce_rate"
                if rep.bounce_rate >= self.cfg.pause_bounce_rate
                else "complaint_rate",
                "bounceRate": rep.bounce_rate,
                "complaintRate": rep.complaint_rate,
                "windowDays": rep.window_days,
                "messages": rep.messages,
                "bounces": rep.bounces,
                "complaints": rep.complaints,
            }
            if await self.store.hold_tenant(tenant_id, data):
                newly.append(tenant_id)
                event(log, "tenant.paused", tenant=tenant_id, **data)
                if self.on_change is not None:
                    self.on_change(tenant_id)
            self._held.add(tenant_id)
        return newly

    async def resume(self, tenant_id: str) -> bool:
        """End the hold; the held mail is due now. False when the tenant was not held."""
        resumed = await self.store.resume_tenant(tenant_id)
        await self.load()
        if resumed:
            event(log, "tenant.resumed", tenant=tenant_id)
            for hook in self.on_resume:
                hook(tenant_id)
            if self.on_change is not None:
                self.on_change(tenant_id)
        return resumed

    async def trend(self, tenant_id: str) -> list[DayRates]:
        """Bounce and complaint rate per UTC day over the window (days with mail only)."""
        since = ids.iso(self.clock.now() - timedelta(days=self.cfg.window_days))
        out = []
        for d in await self.store.reputation_trend(tenant_id, since):
            n = d.messages
            out.append(
                DayRates(
                    day=d.day,
                    messages=n,
                    bounce_rate=round(d.bounced / n, 6) if n else 0.0,
                    complaint_rate=round(d.complaints / n, 6) if n else 0.0,
                )
            )
        return out
