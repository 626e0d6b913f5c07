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

A crash counts (§10.1): an exception while handling a job spends its attempt and follows the
retry schedule to `failed` + `dlq` (`handle`), and a job claimed again after a lease expired
(the process died mid-attempt) keeps its count, so one more than the schedule allows gives up
before running. No job loops without end.
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
from iep_appliance.delivery.claims import Claimed, LoadFailed, crash_text, load_claimed
from iep_appliance.delivery.providers.base import Provider
from iep_appliance.delivery.providers.http_registry import build_http_provider  # h-providers
from iep_appliance.delivery.providers.outbox import OutboxProvider
from iep_appliance.delivery.providers.smtp import SmtpProvider
from iep_appliance.delivery.queues import QueueGate
from iep_appliance.delivery.router import SANDBOX_PROVIDER, Router
from iep_appliance.domain import ids
from iep_appliance.domain.errors import StoreUnavailable
from iep_appliance.domain.hostnames import own_hostname
from iep_appliance.domain.models import Completion, Job, MessageRecord, Routing
from iep_appliance.domain.render import RenderLimits
from iep_appliance.domain.retry import after_crash
from iep_appliance.logs import job_id_var, message_id_var, tenant_id_var

if TYPE_CHECKING:
    from iep_appliance.runtime import Runtime

log = logging.getLogger("iep.delivery")
COMPLETION_RETRY_FIRST_SECONDS = 0.25  # then doubling, up to:
COMPLETION_RETRY_MAX_SECONDS = 5.0
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
            http = build_http_provider(name, p)  # h-providers: ses / sendgrid / mailgun
            if http is not None:
                self.providers[name] = http
            elif p.type == "smtp":
                self.providers[name] = SmtpProvider(name, p, cfg.delivery.hostname)
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
            runtime.metrics,
        )
        self.ctx = sender.SendContext(
            router=self.router,
            blobs=runtime.blobs,
            clock=self.clock,
            schedule=tuple(cfg.delivery.retry_schedule),
            message_id_domain=own_hostname(cfg.delivery.hostname, socket.getfqdn()),
            metrics=runtime.metrics,
            render_limits=RenderLimits(
                max_steps=cfg.render.max_steps,
                max_output_bytes=cfg.render.max_output_bytes,
                max_variable_depth=cfg.render.max_variable_depth,
            ),
            signer_for=runtime.dkim_keys.signer_for if cfg.dkim.sign else None,
            return_path=runtime.return_path,
            unsubscribe_headers=runtime.unsubscribe_headers,
            held=runtime.reputation.is_held,
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
                out.append(item.job)
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
        for item in await self.load_claimed(jobs):
            self._pending += 1
            self._queue.put_nowait(item)

    async def load_claimed(self, jobs: list[Job]) -> list[Claimed]:
        return await load_claimed(self.store, jobs)

    # ---- senders --------------------------------------------------------------------------------

    async def _sender_loop(self) -> None:
        while True:
            item = await self._queue.get()
            if item is _STOP:
                return
            job = item.job
            self._inflight[job.id] = job
            try:
                await self.handle(item)
            finally:
                self._inflight.pop(job.id, None)
                self._pending -= 1
                self._room.set()
                self._job_done.set()

    async def handle(self, item: Claimed) -> None:
        """Run one claimed job; a crash spends its attempt (never a release: that loops)."""
        job = item.job
        job_id_var.set(job.id)
        tenant_id_var.set(job.tenant_id)
        message_id_var.set(job.ref_id if job.kind == "send" else None)
        limit = self._max_attempts(job)
        if job.attempts > limit:  # claimed again after its last attempt's lease expired
            error = f"gave up after {limit} attempts: the last one never finished"
            log.error("job.attempts_exhausted", extra={"fields": {"jobId": job.id}})
            await self._give_up(job, item.message, error, None)
            return
        try:
            if item.error is not None:
                raise LoadFailed(item.error)
            await self._run(job, item.message, item.suppressed)
        except Exception as exc:
            log.exception("sender.crashed", extra={"fields": {"jobId": job.id}})
            error = exc.args[0] if isinstance(exc, LoadFailed) else crash_text(exc)
            await self._give_up(
                job, item.message, error, after_crash(job.attempts, self._schedule(job))
            )

    def _schedule(self, job: Job) -> tuple[int, ...]:
        if job.kind == "send":
            override = self.queues.schedule_of(job)
            return self.ctx.schedule if override is None else override
        return tuple(self.ctx.schedule[: max(job.max_attempts - 1, 0)])

    def _max_attempts(self, job: Job) -> int:
        if job.kind == "send":
            return len(self._schedule(job)) + 1
        return max(job.max_attempts, 1)

    async def _give_up(
        self, job: Job, message: MessageRecord | None, error: str, retry_in: int | None
    ) -> None:
        """Record a crashed (or never finished) attempt: a retry in `retry_in` s, or dead.

        A send goes through `finish_sends` (events, webhooks); when that write fails too, the
        leaner `fail_job`; when even that fails, the lease expires and the re-claim counts."""
        if job.kind == "send" and message is not None:
            try:
                await self.store.finish_sends(
                    [sender.crashed(job, message, error, retry_in, self.ctx)]
                )
                return
            except Exception:
                log.exception("sender.crash_not_recorded", extra={"fields": {"jobId": job.id}})
        retry_at = self.clock.now() + timedelta(seconds=retry_in) if retry_in is not None else None
        try:
            await self.store.fail_job(job, error, retry_at)
        except Exception:
            log.exception("job.crash_not_recorded", extra={"fields": {"jobId": job.id}})

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
        await self._finish(completion)
        self._observe(message, completion)

    async def _finish(self, completion: Completion) -> None:
        """Record a finished attempt. While the store cannot commit (full or read-only disk),
        try again within seconds, backing off — never leave it to the lease to expire, which
        would send the message a second time."""
        delay = COMPLETION_RETRY_FIRST_SECONDS
        while True:
            try:
                await self.store.finish_sends([completion])
                return
            except StoreUnavailable as exc:
                log.warning(
                    "completion.retrying",
                    extra={"fields": {"error": exc.reason, "retryInSeconds": delay}},
                )
            await asyncio.sleep(delay)  # real seconds: the disk fills and empties in real time
            delay = min(delay * 2, COMPLETION_RETRY_MAX_SECONDS)

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
        if c.deferred:  # nothing was sent (iep_sends_deferred_total counts it)
            return
        status = "retry_scheduled" if c.status == "queued" else c.status
        m.messages.labels(status, message.tenant_id, c.provider or "").inc()
        if c.status == "sent":
            created = ids.parse_iso(message.created_at)
            m.message_duration.observe((self.clock.now() - created).total_seconds())

    # ---- introspection ------------------------------------------------------------------------

    def in_hand(self) -> set[int]:
        """Ids of the jobs claimed and not yet finished on this node (their leases are live)."""
        return set(self._inflight)

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
