"""Runtime: starts and stops the parts `wiring.wire` built, and nothing else.

Start: store (open, migrate, writer) → first-start credentials → rate windows, DKIM keys,
reputation holds loaded → stale leases released → webhook pool → delivery engine (senders and
scheduler) → SMTP submission → inbound listener → background tasks → ready.
Every part is registered on an `AsyncExitStack` as it starts, so a failure in any step closes
what already started, in reverse, and `stop()` closes everything the same way:
not ready → listeners closed (a message that got 250 is already on disk) → claiming stops and
in-flight sends finish within `delivery.shutdown_grace_seconds` → the webhook pool gets what is
left of that grace (a second at least) → background tasks cancelled → rate windows and key
last-use times flushed → writer flushed → store closed.
A crash at any point leaves only leases, which the next start releases. Under `iep serve`, the
HTTP listener drains first (http_server.py), so `stop()` runs once no request can still commit.
"""

import asyncio
import contextlib
import logging

from iep_appliance.clock import Clock
from iep_appliance.config import Config
from iep_appliance.logs import event
from iep_appliance.services.tenants import FirstStart, first_start
from iep_appliance.wiring import Services, wire
from iep_appliance.worker_role import WorkerRole

log = logging.getLogger("iep.runtime")
SINGLETON_RETRY_SECONDS = 3.0


class Runtime:
    def __init__(
        self,
        config: Config,
        clock: Clock | None = None,
        deliver: bool = True,
        role: WorkerRole | None = None,
    ) -> None:
        self.services: Services = wire(config, clock, deliver, role)
        self.deliver = deliver
        self.first_start: FirstStart | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._stopping = asyncio.Event()
        self._deadline = 0.0  # monotonic: when the stop's grace runs out

    @property
    def config(self) -> Config:
        return self.services.config

    @property
    def ready(self) -> bool:
        return self.services.health.ready

    @ready.setter
    def ready(self, value: bool) -> None:
        self.services.health.ready = value

    # ---- start -------------------------------------------------------------------------------

    async def start(self) -> None:
        stack = contextlib.AsyncExitStack()
        try:
            await self._start(stack)
        except BaseException:
            self._begin_stop()
            await stack.aclose()
            raise
        self._stack = stack
        self.ready = True
        event(log, "runtime.started", path=self.config.storage.path)

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        s = self.services
        await s.store.open()
        stack.push_async_callback(s.store.close)
        host = self.config.server.host
        url = f"http://{host}:{self.config.server.port}/admin/"
        self.first_start = await first_start(s.store, s.keys, s.storage_path, url)
        await s.rate_limits.load()
        await s.dkim_keys.ensure_all()
        if sealed := await s.webhooks.seal_stored():
            event(log, "webhook_secrets.sealed", count=sealed)
        await s.reputation.load()
        released = await self._release_leases()
        await s.changes.start()
        if released:
            event(log, "leases.released", count=released)
        stack.push_async_callback(self._flush)
        stack.push_async_callback(s.reputation_checks.aclose)
        stack.push_async_callback(s.tasks.aclose)
        if s.webhook_dispatcher is not None:  # registered for `webhook` jobs before claiming
            await s.webhook_dispatcher.start()
            stack.push_async_callback(self._stop_webhooks)
        if s.delivery is not None:
            await s.tenant_providers.route_all()  # a tenant's own providers, by their id
            await s.delivery.start()
            stack.push_async_callback(self._stop_delivery)
        if s.submission_server is not None:
            await s.submission_server.start()
            stack.push_async_callback(self._stop_submission)
        if s.inbound_listener is not None:
            await s.inbound_listener.start()
            stack.push_async_callback(self._stop_inbound)
        s.tasks.spawn(s.housekeeping.run(self._stopping), "housekeeping")
        s.tasks.spawn(s.rate_limits.run(), "rate-limit-flusher")
        s.tasks.spawn(s.changes.run(self._stopping), "change-feed")
        if self.deliver:  # a serving process (not a CLI command)
            s.tasks.spawn(s.heartbeat.run(self._stopping), "heartbeat")
        s.tasks.spawn(self._singletons(), "singletons")  # in exactly one process on the store

    async def _release_leases(self) -> int:
        """At start: the only process releases every lease; a worker only its own (the ones a
        killed predecessor of the same index left), the first also those no current worker
        holds."""
        s, role = self.services, self.services.role
        if role.node_id is None:
            return await s.store.release_all_leases()
        if role.cluster:  # only this process's: another node's expire (the lease sweep)
            return await s.store.release_owned_leases(role.node_id, [])
        orphans = role.owners() if role.runs_singletons else []
        return await s.store.release_owned_leases(role.node_id, orphans)

    async def _singletons(self) -> None:
        """Run the singletons once this process holds them: on SQLite the first worker at
        once; on PostgreSQL the first worker of the node holding the singleton lock (tried now
        and every few seconds: a dead node's lock goes with its session)."""
        s = self.services
        if not s.role.runs_singletons:
            return
        while not await s.store.hold_singletons():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=SINGLETON_RETRY_SECONDS)
            if self._stopping.is_set():
                return
        event(log, "singletons.held", node=s.role.node_id or "")
        s.health.singletons = True
        s.housekeeping.singletons = True
        s.tasks.spawn(s.ticker.run(), "ticker")
        s.tasks.spawn(
            s.retention.run(lambda: self.config.storage.purge_interval_seconds, self._stopping),
            "retention",
        )
        s.tasks.spawn(
            s.audit.run(lambda: self.config.storage.purge_interval_seconds, self._stopping),
            "audit-retention",
        )

    # ---- stop --------------------------------------------------------------------------------

    def begin_drain(self) -> None:
        """The HTTP listener starts draining: not ready from now on."""
        self.ready = False

    async def stop(self) -> None:
        self._begin_stop()
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()
        event(log, "runtime.stopped")

    def _begin_stop(self) -> None:
        self.ready = False
        self._stopping.set()
        # One grace for both: the delivery engine first (it feeds the webhook pool), then the
        # webhook pool gets what is left of it, and a second at least to hand its jobs back.
        grace = self.config.delivery.shutdown_grace_seconds
        self._deadline = self.services.clock.monotonic() + grace

    def _grace_left(self) -> float:
        return self._deadline - self.services.clock.monotonic()

    async def _stop_inbound(self) -> None:
        if self.services.inbound_listener is not None:
            with contextlib.suppress(Exception):
                await self.services.inbound_listener.stop()

    async def _stop_submission(self) -> None:
        if self.services.submission_server is not None:
            grace = self.config.delivery.shutdown_grace_seconds
            await self.services.submission_server.stop(min(grace, 5.0))

    async def _stop_delivery(self) -> None:
        if self.services.delivery is not None:
            await self.services.delivery.stop(self.config.delivery.shutdown_grace_seconds)

    async def _stop_webhooks(self) -> None:
        if self.services.webhook_dispatcher is not None:
            await self.services.webhook_dispatcher.stop(max(1.0, self._grace_left()))

    async def _flush(self) -> None:
        with contextlib.suppress(Exception):
            await self.services.rate_limits.flush()
        with contextlib.suppress(Exception):
            await self.services.keys.flush_last_used()
        with contextlib.suppress(Exception):
            await self.services.changes.flush()  # the notes not yet written
