"""The delivery engine: scheduler + sender pool over the durable `jobs` table.

What runs: one scheduler task claims due jobs in batches (one `UPDATE … RETURNING`,
with a lease) whenever senders have room, and otherwise sleeps until it is woken by a
commit that enqueued a job or until the next `run_at`; never a busy poll. It loads the
claimed messages in one read and hands them to `delivery.concurrency` sender tasks.
Each sender runs `sender.process` and records the Completion through the store's
group-commit writer, so many completions share one commit. Jobs of other kinds
(`webhook`, …) go to the handler registered for their kind.

Stop: claiming stops; senders finish in-flight work within the grace period; claimed
jobs not yet started are released (they do not count as attempts); what is still
running after the grace is cancelled and its lease released. A crash leaves leases,
which the next start releases.
"""

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from iep_appliance.delivery import sender
from iep_appliance.delivery.providers.base import Provider
from iep_appliance.delivery.providers.outbox import OutboxProvider
from iep_appliance.delivery.providers.smtp import SmtpProvider
from iep_appliance.delivery.queues import QueueGate
from iep_appliance.delivery.router import SANDBOX_PROVIDER, Router
from iep_appliance.domain import ids
from iep_appliance.domain.models import Completion, Job, MessageRecord, Routing
from iep_appliance.logs import job_id_var, message_id_var, tenant_id_var

if TYPE_CHECKING:
    from iep_appliance.runtime import Runtime

log = logging.getLogger("iep.delivery")
JobHandler = Callable[[Job], Awaitable[None]]
_STOP = object()


class DeliveryEngine:
    def __init__(self, runtime: "Runtime") -> None:
        cfg = runtime.config
        self.rt = runtime
        self.store = runtime.store
        self.clock = runtime.clock
        self.concurrency = cfg.delivery.concurrency
        self.batch = cfg.delivery.claim_batch
        self.lease = timedelta(seconds=cfg.delivery.lease_seconds)
        self.providers: dict[str, Provider] = {}
        for name, p in cfg.providers.items():
            if p.type == "smtp":
                self.providers[name] = SmtpProvider(name, p)
            else:
                self.providers[name] = OutboxProvider(name, self.store.save_outbox)
        if SANDBOX_PROVIDER not in self.providers:
            self.providers[SANDBOX_PROVIDER] = OutboxProvider(
                SANDBOX_PROVIDER, self.store.save_outbox
            )
        self.router = Router(
            self.providers,
            cfg.routing.default_provider,
            cfg.routing.fallback_provider,
            cfg.breaker,
        )
        self.ctx = sender.SendContext(
            router=self.router,
            blobs=runtime.blobs,
            clock=self.clock,
            schedule=tuple(cfg.delivery.retry_schedule),
            message_id_domain=socket.getfqdn() or "iep.local",
            metrics=runtime.metrics,
            signer_for=runtime.dkim_keys.signer_for if cfg.dkim.sign else None,
            return_path=runtime.return_path,
            unsubscribe_headers=runtime.unsubscribe_headers,
        )
        self.handlers: dict[str, JobHandler] = {}
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._claiming = True
        self._inflight: dict[int, Job] = {}
        self._job_done = asyncio.Event()  # set whenever a sender finishes a job (reload waits)
        self._retired: list[Provider] = []  # replaced by a reload, closed once their sends end
        self._pending = 0  # claimed, not yet finished (queued + in flight)
        self._tasks: list[asyncio.Task[None]] = []
        self._routing: dict[str, tuple[Routing, float]] = {}
        self.queues = QueueGate(self.store, self.clock)  # fair share, rates, retry overrides
        self.store.on_enqueue(self._on_enqueue)

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        for i in range(self.concurrency):
            self._tasks.append(asyncio.create_task(self._sender_loop(), name=f"sender-{i}"))
        self._scheduler = asyncio.create_task(self._scheduler_loop(), name="scheduler")

    async def stop(self, grace: float) -> None:
        self._claiming = False
        self._wake.set()
        self._room.set()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._scheduler
        unstarted = self._drain_queue()
        if unstarted:
            await self.store.release(unstarted)
        for _ in self._tasks:
            self._queue.put_nowait(_STOP)
        running: set[asyncio.Task[None]] = set()
        if self._tasks:
            _done, running = await asyncio.wait(self._tasks, timeout=grace)
        if running:
            leftover = list(self._inflight.values())
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            if leftover:
                await self.store.release(leftover)
            log.warning("delivery.stop.cancelled", extra={"fields": {"jobs": len(leftover)}})
        for provider in [*self.providers.values(), *self._retired]:
            with contextlib.suppress(Exception):
                await provider.aclose()

    def _drain_queue(self) -> list[Job]:
        out = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not _STOP:
                out.append(item[0])
        return out

    # ---- scheduler -------------------------------------------------------------------------------

    def _on_enqueue(self, run_at: str) -> None:
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def _scheduler_loop(self) -> None:
        while self._claiming:
            room = self.concurrency * 2 - self._pending
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            self._wake.clear()
            try:
                n = min(room, self.batch)
                plan = await self.queues.plan(n)
                claimed = await self.store.claim_due(
                    self.clock.now(),
                    n,
                    self.lease,
                    lane=plan.lane,
                    lane_from=plan.lane_from,
                    hold_queues=plan.hold_queues,
                    hold_until=plan.hold_until,
                )
                self._count_claims(claimed)
                jobs = await self.queues.admit(claimed, plan)
            except Exception:
                log.exception("scheduler.claim_failed")
                await self._sleep(1.0)
                continue
            if claimed:
                if jobs:
                    await self._dispatch(jobs)
                continue
            await self._sleep(await self._seconds_until_next())

    async def _seconds_until_next(self) -> float:
        nxt = await self.store.next_run_at()
        if nxt is None:
            return 60.0
        return max(0.0, min(60.0, (nxt - self.clock.now()).total_seconds()))

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0 or self._wake.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _dispatch(self, jobs: list[Job]) -> None:
        sends = [j for j in jobs if j.kind == "send"]
        messages: dict[str, MessageRecord] = {}
        suppressed: dict[str, frozenset[str]] = {}
        if sends:
            messages = await self.store.load_for_send([j.ref_id for j in sends])
            by_tenant: dict[str, list[str]] = {}
            for m in messages.values():
                by_tenant.setdefault(m.tenant_id, []).extend((*m.to, *m.cc, *m.bcc))
            for tenant_id, emails in by_tenant.items():
                found = await self.store.suppressed_among(tenant_id, emails)
                suppressed[tenant_id] = frozenset(e.lower() for e in found)
        for job in jobs:
            self._pending += 1
            m = messages.get(job.ref_id) if job.kind == "send" else None
            self._queue.put_nowait(
                (job, m, suppressed.get(m.tenant_id, frozenset()) if m else None)
            )

    # ---- senders --------------------------------------------------------------------------------

    async def _sender_loop(self) -> None:
        while True:
            item = await self._queue.get()
            if item is _STOP:
                return
            job, message, suppressed = item
            self._inflight[job.id] = job
            try:
                await self._run(job, message, suppressed)
            except Exception:
                log.exception("sender.crashed", extra={"fields": {"jobId": job.id}})
                with contextlib.suppress(Exception):
                    await self.store.release([job])
            finally:
                self._inflight.pop(job.id, None)
                self._pending -= 1
                self._room.set()
                self._job_done.set()

    async def _run(self, job: Job, message: MessageRecord | None, suppressed: Any) -> None:
        job_id_var.set(job.id)
        tenant_id_var.set(job.tenant_id)
        if job.kind != "send":
            handler = self.handlers.get(job.kind)
            if handler is None:  # dead-lettered, where an operator sees it, not left leased
                log.error("job.no_handler", extra={"fields": {"kind": job.kind}})
                await self.store.bury_job(job.id, f"no handler for job kind {job.kind!r}")
                return
            await handler(job)
            return
        message_id_var.set(job.ref_id)
        if message is None:  # deleted under us (purge): nothing to send
            await self.store.finish_sends(
                [
                    Completion(
                        job_id=job.id,
                        message_id=job.ref_id,
                        tenant_id=job.tenant_id,
                        status="failed",
                        attempts=job.attempts,
                        error="message missing",
                    )
                ]
            )
            return
        routing = await self._routing_of(job.tenant_id)
        schedule = self.queues.schedule_of(job)  # the queue's retry override, if any
        ctx = self.ctx if schedule is None else msgspec.structs.replace(self.ctx, schedule=schedule)
        completion = await sender.process(job, message, routing, suppressed, ctx)
        await self.store.finish_sends([completion])
        self._observe(message, completion)

    async def _routing_of(self, tenant_id: str) -> Routing:
        hit = self._routing.get(tenant_id)
        now = self.clock.monotonic()
        if hit is not None and now - hit[1] < 5.0:
            return hit[0]
        tenant = await self.store.get_tenant(tenant_id)
        routing = tenant.settings.routing if tenant else Routing()
        self._routing[tenant_id] = (routing, now)
        return routing

    def forget_tenant(self, tenant_id: str) -> None:
        self._routing.pop(tenant_id, None)

    def _observe(self, message: MessageRecord, c: Completion) -> None:
        m = self.rt.metrics
        status = "retry_scheduled" if c.status == "queued" else c.status
        m.messages.labels(status, message.tenant_id, c.provider or "").inc()
        if c.status == "sent":
            created = ids.parse_iso(message.created_at)
            m.message_duration.observe((self.clock.now() - created).total_seconds())

    # ---- introspection ------------------------------------------------------------------------

    def provider_states(self) -> dict[str, str]:
        return self.router.states()

    def export_breakers(self) -> None:
        for name, breaker in self.router.breakers.items():
            self.rt.metrics.circuit_state.labels(provider=name).set(breaker.state_code)

    def _count_claims(self, claimed: list[Job]) -> None:
        counter = self.rt.metrics.jobs_claimed
        for job in claimed:
            counter.labels(kind=job.kind).inc()

    # ---- config reload (issue 9) ----------------------------------------------------------------

    def replace_router(self, router: Router, retired: list[Provider]) -> set[int]:
        """Route new sends through `router`; `retired` providers are closed at stop at the latest.

        Returns the ids of the jobs in flight now: they may still be sending through the old
        router's providers, so those must stay open until `wait_finished` returns for them.
        """
        self.router = router
        self.providers = router.providers
        self.ctx = msgspec.structs.replace(self.ctx, router=router)
        self._retired.extend(retired)
        return set(self._inflight)

    async def wait_finished(self, job_ids: set[int]) -> None:
        """Return once none of `job_ids` is still in flight (finished, released or cancelled)."""
        while job_ids & self._inflight.keys():
            self._job_done.clear()
            await self._job_done.wait()

    async def close_retired(self, providers: list[Provider]) -> None:
        for provider in providers:
            if provider in self._retired:
                self._retired.remove(provider)
                with contextlib.suppress(Exception):
                    await provider.aclose()
