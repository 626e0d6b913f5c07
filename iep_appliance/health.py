"""The appliance's own state for /ready, /metrics and the dashboard: a real write probe,
gauges refreshed on scrape, each provider's breaker and last error, request timing."""

import asyncio
import logging
from datetime import timedelta
from typing import Any

from iep_appliance.clock import Clock
from iep_appliance.config import Config
from iep_appliance.delivery.engine import DeliveryEngine
from iep_appliance.domain import ids
from iep_appliance.domain.changes import ProviderBeat, merge_provider_beats
from iep_appliance.domain.errors import StoreUnavailable
from iep_appliance.logs import event
from iep_appliance.metrics import Metrics
from iep_appliance.services.dashboard import ProviderHealth
from iep_appliance.services.nodes import STALE_SECONDS as NODE_STALE_SECONDS
from iep_appliance.services.reputation import ReputationService
from iep_appliance.store.base import Store

log = logging.getLogger("iep.runtime")
READY_PROBE_TTL_SECONDS = 1.0  # /ready reuses its write probe's result this long


class Health:
    """Satisfies `services.system.Health`. `ready` is set by the runtime once every part has
    started, and cleared when it starts stopping (or the HTTP listener starts draining)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        metrics: Metrics,
        reputation: ReputationService,
        engine: DeliveryEngine | None,
        config: Config,
    ) -> None:
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.reputation = reputation
        self.engine = engine
        self.ready = False
        self.node = ""  # this process's lease owner / node name (wiring sets it)
        self.singletons = False  # this process runs the singletons (runtime.py sets it)
        self.backend = config.storage.backend
        self._store_probe: tuple[float, str] | None = None  # (monotonic time, "ok" | error)
        self._latency_children: dict[tuple[str, str, int], Any] = {}
        self._accepted_children: dict[str, Any] = {}
        self.reconfigure(config)

    def reconfigure(self, config: Config) -> None:
        """`[logging] access_log` and the provider names of a reloaded config."""
        self.access_log = config.logging.access_log
        self.provider_names = list(config.providers)

    # ---- /ready ------------------------------------------------------------------------------

    async def readiness(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "status": "ready",
            "node": self.node,
            "backend": self.backend,
            "singletons": self.singletons,
            "checks": {},
        }
        if not self.ready:
            report["status"] = "not_ready"
            report["checks"]["runtime"] = "starting or stopping"
            return report
        store = await self._probe_store()
        report["checks"]["store"] = store
        if store != "ok":
            report["status"] = "not_ready"
        report["checks"]["providers"] = (
            self.engine.provider_states()
            if self.engine is not None
            else {name: "configured" for name in self.provider_names}
        )
        return report

    async def _probe_store(self) -> str:
        """ "ok" when a real write commits (DESIGN §10.1), else the error; reused for a second,
        so a busy `/ready` costs one small commit a second at most."""
        now = self.clock.monotonic()
        cached = self._store_probe
        if cached is not None and now - cached[0] < READY_PROBE_TTL_SECONDS:
            return cached[1]
        try:
            await asyncio.wait_for(self.store.ping(), timeout=5)
            result = "ok"
        except StoreUnavailable as exc:
            result = f"error: {exc.reason}"
        except Exception as exc:
            result = f"error: {type(exc).__name__}"
        if result != "ok" and (cached is None or cached[1] == "ok"):
            log.warning("store.not_ready", extra={"fields": {"error": result}})
        elif result == "ok" and cached is not None and cached[1] != "ok":
            log.info("store.ready_again")
        self._store_probe = (now, result)
        return result

    # ---- /metrics ----------------------------------------------------------------------------

    async def metrics_text(self) -> bytes:
        await self.refresh_gauges()
        return self.metrics.render()

    async def refresh_gauges(self) -> None:
        depth = await self.store.queue_depth()
        for state in ("ready", "leased", "done", "dead"):
            self.metrics.queue_depth.labels(state=state).set(depth.get(state, 0))
        now = self.clock.now()
        oldest = await self.store.oldest_ready_at(now)
        self.metrics.oldest_ready_age.set((now - oldest).total_seconds() if oldest else 0)
        self.metrics.jobs_due.set(await self.store.count_due(now))
        if self.engine is not None:
            self.engine.export_breakers()
        for tenant in await self.store.list_tenants():  # a handful of tenants: cheap reads
            rep = await self.reputation.of(tenant.id)
            self.metrics.tenant_bounce_rate.labels(tenant=tenant.slug).set(rep.bounce_rate)
            self.metrics.tenant_complaint_rate.labels(tenant=tenant.slug).set(rep.complaint_rate)
            held = 1 if self.reputation.is_held(tenant.id) else 0
            self.metrics.tenant_held.labels(tenant=tenant.slug).set(held)

    def count_accepted(self, tenant_id: str, n: int) -> None:
        """`iep_accepted_total` (MessageService.on_accepted)."""
        child = self._accepted_children.get(tenant_id)
        if child is None:
            child = self._accepted_children[tenant_id] = self.metrics.accepted.labels(tenant_id)
        child.inc(n)

    def observe_request(
        self, method: str, route: str, status: int, seconds: float, path: str
    ) -> None:
        key = (method, route, status)
        child = self._latency_children.get(key)
        if child is None:  # labels() takes a lock and builds a key: once per distinct label set
            child = self._latency_children[key] = self.metrics.request_latency.labels(
                method, route, str(status)
            )
        child.observe(seconds)
        if self.access_log:
            event(
                logging.getLogger("iep.http"),
                "http.request",
                method=method,
                path=path,
                status=status,
                durationMs=round(seconds * 1000, 2),
            )

    # ---- the dashboard -----------------------------------------------------------------------

    def provider_beats(self) -> tuple[ProviderBeat, ...]:
        """This process's providers for its heartbeat: breaker state and newest failure, the
        failure's time on the wall clock (other processes read it)."""
        engine = self.engine
        if engine is None:
            return ()
        mono, wall = self.clock.monotonic(), self.clock.now()
        beats = []
        for name, state in engine.provider_states().items():
            last = engine.router.last_error(name)
            at = ids.iso(wall - timedelta(seconds=mono - last[1])) if last else None
            beats.append(ProviderBeat(name, state, last[0] if last else None, at))
        return tuple(beats)

    async def provider_health(self) -> list[ProviderHealth]:
        """Every live process's providers merged (breakers are per process: the dashboard may
        be answered by any worker or node), this process's own view current to the call."""
        if self.engine is None:
            return [ProviderHealth(name, "not delivering") for name in self.provider_names]
        views = [self.provider_beats()]
        try:
            nodes = await self.store.list_nodes()
        except StoreUnavailable:  # this process's own view is still worth showing
            nodes = []
        now = self.clock.now()
        for beat in nodes:
            age = (now - ids.parse_iso(beat.heartbeat_at)).total_seconds()
            if beat.node_id != self.node and age < NODE_STALE_SECONDS:
                views.append(beat.providers)
        return [
            ProviderHealth(
                name=p.name,
                state=p.state,
                last_error=p.last_error,
                error_age_seconds=(
                    max(0.0, (now - ids.parse_iso(p.error_at)).total_seconds())
                    if p.error_at
                    else None
                ),
            )
            for p in merge_provider_beats(views)
        ]
