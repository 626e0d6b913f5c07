"""The housekeeping round, every ten seconds until stop: key last-use times written, expired
leases released (not those of jobs still in hand), DKIM keys made for new domains, due DNS
checks run, reputation holds enforced, old inbound messages and provider events purged. Also
the reputation check a bounce or complaint triggers at once, not at the next round."""

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from iep_appliance.clock import Clock
from iep_appliance.config import StorageConfig
from iep_appliance.delivery.engine import DeliveryEngine
from iep_appliance.domain import ids
from iep_appliance.domain.bounces import InboundEffect
from iep_appliance.domain.changes import NodeBeat, ProviderBeat
from iep_appliance.services.dkim_keys import DkimKeyService
from iep_appliance.services.domain_checks import DomainCheckService
from iep_appliance.services.keys import KeyService
from iep_appliance.services.pacing import run_rounds, stopped_during
from iep_appliance.services.reputation import ReputationService

log = logging.getLogger("iep.runtime")
ROUND_SECONDS = 10
HEARTBEAT_SECONDS = 5.0
PROVIDER_CHECK_SECONDS = 0.5  # how often the heartbeat looks for a provider change
TOKEN_RETENTION = timedelta(days=1)


class HousekeepingStore(Protocol):
    async def release_expired_leases(self, now: datetime, keep: Collection[int] = ()) -> int: ...
    async def purge_inbound(self, before: str, limit: int) -> int: ...
    async def purge_provider_events(
        self, events_before: str, tokens_before: str, limit: int
    ) -> int: ...


class ReputationChecks:
    """`InboundService.on_effects`: a hard bounce or a complaint came in, so check its
    tenants' reputation now. The checks still running at stop are cancelled."""

    def __init__(self, reputation: ReputationService) -> None:
        self.reputation = reputation
        self._running: set[asyncio.Task[list[str]]] = set()

    def __call__(self, effects: list[InboundEffect]) -> None:
        tenants = {e.tenant_id for e in effects if e.kind in ("hard", "complaint")}
        if not tenants:
            return
        task = asyncio.create_task(self.reputation.enforce(tenants), name="reputation-check")
        self._running.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[list[str]]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("reputation.check_failed", exc_info=task.exception())

    async def aclose(self) -> None:
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


class Housekeeping:
    def __init__(
        self,
        store: HousekeepingStore,
        clock: Clock,
        keys: KeyService,
        dkim_keys: DkimKeyService,
        domain_checks: DomainCheckService,
        reputation: ReputationService,
        engine: DeliveryEngine | None,
        storage: StorageConfig,
        singletons: bool = True,
        chores: Sequence[Callable[[], Awaitable[object]]] = (),
    ) -> None:
        self.store = store
        # Another process on the store runs the rest (worker 0, or the node holding the
        # singleton lock): here only the key last-use times are flushed.
        self.singletons = singletons
        self.chores = tuple(chores)  # the singletons' extra rounds (old changes, ended windows)
        self.clock = clock
        self.keys = keys
        self.dkim_keys = dkim_keys
        self.domain_checks = domain_checks
        self.reputation = reputation
        self.engine = engine
        self.reconfigure(storage)

    def reconfigure(self, storage: StorageConfig) -> None:
        """`storage.retention_days` and `storage.purge_batch_size`: the next purge uses them."""
        self.retention_days = storage.retention_days
        self.purge_batch_size = storage.purge_batch_size
        self.provider_event_retention_days = storage.provider_event_retention_days

    async def run(self, stopping: asyncio.Event) -> None:
        await run_rounds(stopping, lambda: ROUND_SECONDS, self.round, log, "housekeeping.failed")

    async def round(self) -> None:
        await self.keys.flush_last_used()
        if not self.singletons:
            return
        for chore in self.chores:
            await chore()
        # Not the jobs still in hand here (a completion retrying against a full disk
        # outlives its lease): releasing those would send them twice.
        keep = self.engine.in_hand() if self.engine is not None else ()
        await self.store.release_expired_leases(self.clock.now(), keep)
        await self.dkim_keys.ensure_all()
        await self.domain_checks.run_due()
        await self.reputation.enforce()
        await self._purge_inbound()
        await self.purge_provider_events()

    async def _purge_inbound(self) -> None:
        days = self.retention_days
        if days:
            before = ids.iso(self.clock.now() - timedelta(days=days))
            await self.store.purge_inbound(before, self.purge_batch_size)

    async def purge_provider_events(self) -> None:
        """Events past their retention (kept to refuse a replayed event), Mailgun tokens after
        a day (a signature older than 15 minutes is refused anyway): a step per round."""
        now = self.clock.now()
        await self.store.purge_provider_events(
            ids.iso(now - timedelta(days=self.provider_event_retention_days)),
            ids.iso(now - TOKEN_RETENTION),
            self.purge_batch_size * 10,
        )


class HeartbeatStore(Protocol):
    async def heartbeat(self, beat: NodeBeat) -> None: ...


class Heartbeat:
    """This process's row of `nodes`, written at start and every HEARTBEAT_SECONDS (the
    dashboard's Nodes page shows when each process was last heard from), with its providers'
    breakers and newest failures: written again within PROVIDER_CHECK_SECONDS when those
    change, so a dashboard answered by another worker or node shows a failure at once."""

    def __init__(
        self,
        store: HeartbeatStore,
        clock: Clock,
        node_id: str,
        host: str,
        backend: str,
        providers: Callable[[], tuple[ProviderBeat, ...]] = tuple,
    ) -> None:
        self.store = store
        self.clock = clock
        self.node_id, self.host, self.backend = node_id, host, backend
        self.providers = providers
        self.started_at = ids.iso(clock.now())
        self._written: tuple[ProviderBeat, ...] | None = None

    async def beat(self) -> None:
        now = ids.iso(self.clock.now())
        providers = self.providers()
        beat = NodeBeat(
            self.node_id, self.host, os.getpid(), self.backend, self.started_at, now, providers
        )
        self._written = providers  # a failed write is tried again at the next interval
        await self.store.heartbeat(beat)

    async def run(self, stopping: asyncio.Event) -> None:
        last = -HEARTBEAT_SECONDS
        while not stopping.is_set():
            due = self.clock.monotonic() - last >= HEARTBEAT_SECONDS
            if due or self.providers() != self._written:
                try:
                    await self.beat()
                except Exception:
                    log.exception("heartbeat.failed")  # tried again at the next interval
                last = self.clock.monotonic()
            await stopped_during(stopping, PROVIDER_CHECK_SECONDS)  # the loop sees a stop
