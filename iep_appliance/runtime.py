"""Runtime: the one owner of start-up and shutdown.

Start: store (open, migrate, writer) → first-start credentials → release stale leases →
providers → sender and webhook pools → scheduler → housekeeping → ready.
Stop, in reverse: not ready → stop claiming → in-flight sends finish within
`delivery.shutdown_grace_seconds` → unstarted claims released → writer flushed → closed.
A crash at any point leaves only leases, which the next start releases. Under `iep serve`,
the HTTP listener drains first (http_server.py: requests in flight answered, new ones 503),
so `stop()` runs once no request can still commit anything.
Every long-lived task is created here (or by a component started here) and awaited at stop.
"""

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from iep_appliance.blobs import LocalBlobs
from iep_appliance.clock import Clock
from iep_appliance.config import Config
from iep_appliance.domain.errors import StoreUnavailable
from iep_appliance.domain.models import Principal, RateLimits
from iep_appliance.logs import event
from iep_appliance.metrics import Metrics
from iep_appliance.services.keys import KeyService
from iep_appliance.services.messages import MessageService
from iep_appliance.services.tenants import FirstStart, first_start
from iep_appliance.store.sqlite.store import SqliteStore
from iep_appliance.worker_role import WorkerRole

log = logging.getLogger("iep.runtime")
READY_PROBE_TTL_SECONDS = 1.0  # /ready reuses its write probe's result this long


class Runtime:
    def __init__(
        self,
        config: Config,
        clock: Clock | None = None,
        deliver: bool = True,
        role: WorkerRole | None = None,
    ) -> None:
        self.config = config
        self.role = role or WorkerRole()  # issue 19: which worker process this is
        self.clock = clock or Clock()
        self.metrics = Metrics()
        self._latency_children: dict[tuple[str, str, int], Any] = {}
        self.store = SqliteStore(
            config.storage.path,
            self.clock,
            synchronous=config.storage.synchronous,
            commit_window_ms=config.storage.commit_window_ms,
            webhook_attempts=len(config.webhooks.retry_schedule) + 1,
        )
        self.blobs = LocalBlobs(config.storage.attachments_dir)
        self.keys = KeyService(self.store, self.clock)
        self.messages = MessageService(
            self.store, self.blobs, self.clock, len(config.delivery.retry_schedule) + 1
        )
        self.messages.on_accepted.append(self._count_accepted)
        self.messages.max_variable_depth = config.render.max_variable_depth
        self._init_submission()
        self._init_workflows()
        self._init_tenant_services()
        self._init_deliverability()
        self._init_webhooks()
        self._init_scheduled_jobs()
        self._init_retention()
        self.deliver = deliver
        self.delivery: Any = None
        self.extra_handlers: list[Any] = []
        self.ready = False
        self._store_probe: tuple[float, str] | None = None  # (monotonic time, "ok" | error)
        self.first_start: FirstStart | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._accepted_children: dict[str, Any] = {}
        # ---- issue 19: worker processes (worker_wiring.py) ----
        from iep_appliance import worker_wiring

        self.changes = worker_wiring.install(self, self.role)
        # ---- end issue 19 ----

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.store.open()
        try:
            host = self.config.server.host
            url = f"http://{host}:{self.config.server.port}/admin/"
            self.first_start = await first_start(self.store, self.keys, self.store.db.path, url)
            await self.rate_limits.load()
            await self.dkim_keys.ensure_all()
            await self.reputation.load()
            from iep_appliance import worker_wiring  # issue 19: a worker releases its own

            released = await worker_wiring.release_leases(self, self.role)
            await self.changes.start()
            if released:
                event(log, "leases.released", count=released)
            if self.deliver:
                from iep_appliance.delivery.engine import DeliveryEngine

                self.delivery = DeliveryEngine(self)
                await self._start_webhooks()
                await self.delivery.start()
            # issue 19: the SMTP listeners bind their own ports: worker 0 runs them.
            if self.config.submission.enabled and self.role.runs_singletons:
                from iep_appliance.submission.server import SubmissionServer

                self.submission_server = SubmissionServer(
                    self.config.submission,
                    self.keys,
                    self.submissions,
                    self.clock,
                    self.hostname or "iep.local",
                )
                await self.submission_server.start()
            await self._start_inbound()
            self.spawn(self._housekeeping(), "housekeeping")
            self.spawn(self.rate_limits.run(), "rate-limit-flusher")
            self.spawn(self.changes.run(self._stopping), "change-feed")
            if self.role.runs_singletons:  # issue 19: in exactly one worker
                self.spawn(self.ticker.run(), "ticker")
                self.spawn(
                    self.retention.run(
                        lambda: self.config.storage.purge_interval_seconds, self._stopping
                    ),
                    "retention",
                )
        except BaseException:
            if self.submission_server is not None:
                await self.submission_server.stop(0)
            await self.store.close()
            raise
        self.ready = True
        event(log, "runtime.started", path=self.config.storage.path)

    async def stop(self) -> None:
        self.ready = False
        self._stopping.set()
        # One grace for both: the delivery engine first (it feeds the webhook pool), then the
        # webhook pool gets what is left of it, and a second at least to hand its jobs back.
        grace = self.config.delivery.shutdown_grace_seconds
        deadline = self.clock.monotonic() + grace
        if self.submission_server is not None:  # a message that got 250 is already on disk
            await self.submission_server.stop(min(grace, 5.0))
        if self.inbound_listener is not None:
            with contextlib.suppress(Exception):
                await self.inbound_listener.stop()
        if self.delivery is not None:
            await self.delivery.stop(grace)
        if self.webhook_dispatcher is not None:
            await self.webhook_dispatcher.stop(max(1.0, deadline - self.clock.monotonic()))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self.rate_limits.flush()
        with contextlib.suppress(Exception):
            await self.keys.flush_last_used()
        with contextlib.suppress(Exception):
            await self.changes.flush()
        await self.store.close()
        event(log, "runtime.stopped")

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A supervised task: logged if it dies, cancelled at stop."""

        async def supervised() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("task.crashed", extra={"fields": {"task": name}})

        def close_unstarted(task: asyncio.Task[None]) -> None:
            # Cancelled before its first step, `supervised` never awaited `coro`: close it, or
            # it warns "coroutine was never awaited" (an error under the strict test settings).
            coro.close()

        task = asyncio.create_task(supervised(), name=name)
        task.add_done_callback(close_unstarted)
        self._tasks.append(task)
        return task

    async def _housekeeping(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=10)
            if self._stopping.is_set():
                return
            try:
                await self.keys.flush_last_used()
                if not self.role.runs_singletons:  # issue 19: the rest runs in worker 0
                    continue
                from iep_appliance import worker_wiring

                await worker_wiring.singleton_chores(self, self.changes)
                # Not the jobs still in hand here (a completion retrying against a full disk
                # outlives its lease): releasing those would send them twice.
                keep = self.delivery.in_hand() if self.delivery is not None else ()
                await self.store.release_expired_leases(self.clock.now(), keep)
                await self.dkim_keys.ensure_all()
                await self.domain_checks.run_due()
                await self.reputation.enforce()
                await self._purge_inbound()
            except Exception:
                log.exception("housekeeping.failed")

    def _on_inbound_effects(self, effects: list[Any]) -> None:
        """A bounce or complaint came in: check its tenants' reputation now, not at the next
        housekeeping round."""
        tenants = {e.tenant_id for e in effects if e.kind in ("hard", "complaint")}
        if not tenants:
            return
        task = asyncio.create_task(self.reputation.enforce(tenants), name="reputation-check")
        self._reputation_checks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._reputation_checks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("reputation.check_failed", exc_info=t.exception())

        task.add_done_callback(done)

    async def _purge_inbound(self) -> None:
        from datetime import timedelta

        from iep_appliance.domain import ids

        days = self.config.storage.retention_days
        if days:
            before = ids.iso(self.clock.now() - timedelta(days=days))
            await self.store.purge_inbound(before, self.config.storage.purge_batch_size)

    # ---- hooks used by the API -----------------------------------------------------------------

    async def check_rate(self, principal: Principal, n: int) -> dict[str, str]:
        """Rate-limit headers for a send of `n` messages; raises RateLimited when over."""
        limiter: Callable[..., Any] | None = getattr(self, "rate_limiter", None)
        if limiter is None:
            return {}
        return await limiter(principal, n)

    def release_rate(self, principal: Principal, n: int) -> None:
        """Give back `n` messages reserved by `check_rate` that were not accepted."""
        if getattr(self, "rate_limiter", None) is not None:
            self.rate_limits.refund(principal.tenant_id, n)

    # ---- SMTP submission (issue 15) ------------------------------------------------------------

    def _init_submission(self) -> None:
        from iep_appliance.services.submissions import SubmissionService

        fqdn = socket.getfqdn()
        # DESIGN §10.1: the machine's FQDN, unless it has no dot or is localhost.
        self.hostname: str | None = (
            fqdn if "." in fqdn and not fqdn.startswith("localhost") else None
        )
        self.submissions = SubmissionService(
            self.messages, self.check_rate, self.release_rate, self.hostname
        )
        self.submission_server: Any = None
        from iep_appliance.services.outbox import OutboxService

        self.outbox = OutboxService(self.store)

    # ---- tenant services (issue 6) -------------------------------------------------------------

    def _init_tenant_services(self) -> None:
        from iep_appliance.domain.ratelimit import Limits
        from iep_appliance.services.domains import DomainService
        from iep_appliance.services.ratelimits import RateLimitService
        from iep_appliance.services.suppressions import SuppressionService
        from iep_appliance.services.tenant_settings import TenantSettingsService

        limits = self.config.limits
        self.rate_limits = RateLimitService(
            self.store,
            self.clock,
            Limits(limits.max_per_minute, limits.max_per_hour, limits.max_per_day),
            self._tenant_rate_limits,
            lambda tenant_id: self.metrics.rate_limit_hits.labels(tenant=tenant_id).inc(),
        )
        self.rate_limiter = self.rate_limits.check
        self.suppressions = SuppressionService(self.store)
        self.domains = DomainService(self.store, self.messages.invalidate)
        self.tenant_settings = TenantSettingsService(
            self.store, {*self.config.providers, "outbox"}, self.tenant_changed
        )

    # ---- deliverability (issue 16) -------------------------------------------------------------

    def _init_deliverability(self) -> None:
        import os
        from pathlib import Path

        from iep_appliance.services.dkim_keys import DkimKeyService
        from iep_appliance.services.secret_box import SecretBox, load_master_key

        cfg = self.config
        data_dir = Path(cfg.storage.path).parent
        self.secret_box = SecretBox(
            lambda: load_master_key(cfg.security.secret_key_env, data_dir, os.environ)
        )
        self.dkim_keys = DkimKeyService(self.store, self.secret_box, self.clock, cfg.dkim.algorithm)
        self.domains.dkim_keys = self.dkim_keys
        self._init_domain_checks()
        self._init_inbound()

    def _init_inbound(self) -> None:
        from iep_appliance.domain import verp
        from iep_appliance.services.inbound import InboundService

        cfg = self.config
        bounce_domain = cfg.inbound.bounce_domain
        self.return_path: Callable[[str], str] | None = None
        if bounce_domain:
            self.return_path = lambda message_id: verp.bounce_address(
                self.bounce_key, message_id, bounce_domain
            )
        host = cfg.server.host if cfg.server.host not in ("0.0.0.0", "::") else "127.0.0.1"
        public_url = cfg.server.public_url or f"http://{host}:{cfg.server.port}"
        self.unsubscribe_headers = lambda message_id: verp.list_unsubscribe_headers(
            self.unsubscribe_key, message_id, public_url, bounce_domain
        )
        self.inbound = InboundService(
            self.store,
            self.clock,
            box=self.secret_box,
            bounce_domain=bounce_domain,
            hard_bounces=cfg.suppression.hard_bounces,
            max_stored_bytes=cfg.inbound.max_stored_bytes,
        )
        self.inbound_listener: Any = None
        from iep_appliance.services.reputation import ReputationService

        self.reputation = ReputationService(self.store, self.clock, cfg.reputation)
        self.inbound.on_effects = self._on_inbound_effects
        self._reputation_checks: set[asyncio.Task[Any]] = set()

    @property
    def bounce_key(self) -> bytes:
        return self.inbound.bounce_key

    @property
    def unsubscribe_key(self) -> bytes:
        return self.inbound.unsubscribe_key

    async def _start_inbound(self) -> None:
        if not self.config.inbound.enabled or not self.role.runs_singletons:  # issue 19
            return
        import socket

        from iep_appliance.delivery.inbound_listener import InboundListener

        self.inbound_listener = InboundListener(
            self.config.inbound,
            self.inbound.accepts,
            self.inbound.receive,
            socket.getfqdn() or "localhost",
        )
        await self.inbound_listener.start()

    def _init_domain_checks(self) -> None:
        import socket
        from urllib.parse import urlparse

        from iep_appliance.services.domain_checks import DomainCheckService, Resolver

        cfg = self.config
        host = urlparse(cfg.server.public_url).hostname or socket.getfqdn() or "localhost"
        self.domain_checks = DomainCheckService(
            self.store,
            self.dkim_keys,
            Resolver(cfg.dns.nameservers, cfg.dns.timeout_seconds),
            self.clock,
            spf_mechanism=cfg.dns.spf_include or f"a:{socket.getfqdn() or host}",
            bounce_domain=cfg.inbound.bounce_domain,
            mx_host=host,
            interval_seconds=cfg.dns.check_interval_seconds,
            on_verified=self.tenant_changed,
        )

    def _init_webhooks(self) -> None:
        from iep_appliance.services.webhooks import WebhookService
        from iep_appliance.webhooks.guard import Guard

        cfg = self.config.webhooks
        self.webhook_guard = Guard(cfg.allow_private_networks)
        self.webhooks = WebhookService(
            self.store,
            self.clock,
            self.webhook_guard.check_url,
            cfg.rotation_grace_seconds,
            len(cfg.retry_schedule) + 1,
        )
        self.webhook_dispatcher: Any = None

    async def _start_webhooks(self) -> None:
        """The webhook pool, registered for `webhook` jobs before the scheduler claims any."""
        from iep_appliance.webhooks.dispatcher import WebhookDispatcher

        self.webhook_dispatcher = WebhookDispatcher(
            self.store, self.clock, self.config.webhooks, self.metrics, self.webhook_guard
        )
        await self.webhook_dispatcher.start()
        self.delivery.handlers["webhook"] = self.webhook_dispatcher.submit

    async def _tenant_rate_limits(self, tenant_id: str) -> RateLimits:
        return (await self.messages.context(tenant_id)).tenant.settings.rate_limits

    def tenant_changed(self, tenant_id: str) -> None:
        """Drop every cache of a tenant's rules (settings, domains, routing) at once."""
        self.messages.invalidate(tenant_id)
        if self.delivery is not None:
            self.delivery.forget_tenant(tenant_id)

    # ---- batches and named queues (issue 7) ----------------------------------------------------

    def _init_workflows(self) -> None:
        from iep_appliance.services.batches import BatchPayloads, BatchService
        from iep_appliance.services.compat import CompatService
        from iep_appliance.services.queues import QueueService

        schedule = tuple(self.config.delivery.retry_schedule)
        self.queues = QueueService(self.store, self.clock, schedule)
        self.messages.queues = self.queues
        self.batches = BatchService(self.store, self.clock, self.messages, self.queues)
        self.batch_payloads = BatchPayloads(self.batches)  # a recurring job's batch runs
        self.compat = CompatService(self.messages)  # Resend/Postmark-compatible APIs
        self.queues.on_change.append(self._queues_changed)

    def _queues_changed(self, tenant_id: str) -> None:
        if self.delivery is not None:
            self.delivery.queues.invalidate(tenant_id)

    # ---- scheduled jobs and analytics (issue 7) ------------------------------------------------

    def _init_scheduled_jobs(self) -> None:
        from iep_appliance.services.analytics import AnalyticsService
        from iep_appliance.services.scheduled_jobs import ScheduledJobService
        from iep_appliance.services.ticker import Ticker

        self.scheduled_jobs = ScheduledJobService(
            self.store, self.messages, self.clock, batches=self.batch_payloads
        )
        self.ticker = Ticker(self.scheduled_jobs, self.store, self.clock)
        self.analytics = AnalyticsService(self.store, self.clock)

    # ---- retention (issue 9) -------------------------------------------------------------------

    def _init_retention(self) -> None:
        from iep_appliance.services.retention import RetentionService

        storage = self.config.storage
        purged = self.metrics.purged_rows
        self.retention = RetentionService(
            self.store,
            self.blobs,
            self.clock,
            storage.retention_days,
            storage.attachment_retention_days,
            storage.purge_batch_size,
            lambda kind, n: purged.labels(kind=kind).inc(n),
        )

    def _count_accepted(self, tenant_id: str, n: int) -> None:
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
        if self.config.logging.access_log:
            event(
                logging.getLogger("iep.http"),
                "http.request",
                method=method,
                path=path,
                status=status,
                durationMs=round(seconds * 1000, 2),
            )

    async def readiness(self) -> dict[str, Any]:
        report: dict[str, Any] = {"status": "ready", "checks": {}}
        if not self.ready:
            report["status"] = "not_ready"
            report["checks"]["runtime"] = "starting or stopping"
            return report
        store = await self._probe_store()
        report["checks"]["store"] = store
        if store != "ok":
            report["status"] = "not_ready"
        report["checks"]["providers"] = (
            self.delivery.provider_states()
            if self.delivery is not None
            else {name: "configured" for name in self.config.providers}
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

    async def refresh_gauges(self) -> None:
        depth = await self.store.queue_depth()
        for state in ("ready", "leased", "done", "dead"):
            self.metrics.queue_depth.labels(state=state).set(depth.get(state, 0))
        now = self.clock.now()
        oldest = await self.store.oldest_ready_at(now)
        self.metrics.oldest_ready_age.set((now - oldest).total_seconds() if oldest else 0)
        self.metrics.jobs_due.set(await self.store.count_due(now))
        if self.delivery is not None:
            self.delivery.export_breakers()
        for tenant in await self.store.list_tenants():  # a handful of tenants: cheap reads
            rep = await self.reputation.of(tenant.id)
            self.metrics.tenant_bounce_rate.labels(tenant=tenant.slug).set(rep.bounce_rate)
            self.metrics.tenant_complaint_rate.labels(tenant=tenant.slug).set(rep.complaint_rate)
            held = 1 if self.reputation.is_held(tenant.id) else 0
            self.metrics.tenant_held.labels(tenant=tenant.slug).set(held)
