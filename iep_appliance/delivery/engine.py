"""The delivery engine: scheduler + sender pool over the durable `jobs` table.

What runs: one scheduler task claims due jobs in batches (one `UPDATE … RETURNING`,
with a lease) whenever senders have room, and otherwise sleeps until it is woken by a
commit that enqueued a job or until the next `run_at`; never a busy poll. It loads the
claimed messages in one read and hands them to `delivery.concurrency` sender tasks.
Each sender runs a send job through `SendPipeline.process` (sender.py), which records its
Completion through the store's group-commit writer, so many completions share one commit.
Jobs of other kinds (`webhook`, …) go to the handler registered for their kind.

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
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from iep_appliance import traces
from iep_appliance.blobs import Blobs
from iep_appliance.clock import Clock
from iep_appliance.config import BreakerConfig, Config, RoutingConfig
from iep_appliance.config_providers import ProviderConfig
from iep_appliance.delivery.claims import Claimed, LoadFailed, crash_text, load_claimed
from iep_appliance.delivery.context import SendContext
from iep_appliance.delivery.providers.base import Provider
from iep_appliance.delivery.providers.pool import ProviderPool
from iep_appliance.delivery.providers.registry import ProviderParts
from iep_appliance.delivery.queues import QueueGate
from iep_appliance.delivery.router import Router
from iep_appliance.delivery.sender import SendPipeline
from iep_appliance.domain.hostnames import own_hostname
from iep_appliance.domain.mime import Signer
from iep_appliance.domain.models import Job, MessageRecord
from iep_appliance.domain.render import RenderLimits
from iep_appliance.domain.retry import after_crash, attempts_from
from iep_appliance.graceful_stop import finish_or_release
from iep_appliance.logs import event, job_id_var, message_id_var, tenant_id_var
from iep_appliance.metrics import Metrics
from iep_appliance.store.base import Store

log = logging.getLogger("iep.delivery")
JobHandler = Callable[[Job], Awaitable[None]]
_STOP = object()


class DeliveryEngine:
    """Built once by the wiring from its parts; `handlers` deliver the jobs of other kinds
    (`webhook`: the webhook pool). The hooks come from the services that own them: DKIM
    `signer_for`, VERP `return_path`, one-click `unsubscribe_headers`, reputation `held`,
    open/click tracking `track`."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        blobs: Blobs,
        metrics: Metrics,
        config: Config,
        *,
        handlers: Mapping[str, "JobHandler"] | None = None,
        signer_for: Callable[[str], Awaitable[Signer | None]] | None = None,
        return_path: Callable[[str], str] | None = None,
        unsubscribe_headers: Callable[[str], bytes] | None = None,
        held: Callable[[str], bool] | None = None,
        track: Callable[[MessageRecord, str], str] | None = None,
    ) -> None:
        cfg = config
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.concurrency = cfg.delivery.concurrency
        self.batch = cfg.delivery.claim_batch
        self.lease = timedelta(seconds=cfg.delivery.lease_seconds)
        parts = ProviderParts(
            save_outbox=self.store.save_outbox,
            clock=self.clock,
            hostname=cfg.delivery.hostname,
            metrics=self.metrics,
        )
        self.pool = ProviderPool(cfg.providers, parts)
        self._breaker = cfg.breaker
        self.router = Router(
            self.pool.providers,
            cfg.routing.default_provider,
            cfg.routing.fallback_provider,
            cfg.breaker,
            self.metrics,
        )
        ctx = SendContext(
            router=self.router,
            blobs=blobs,
            clock=self.clock,
            schedule=tuple(cfg.delivery.retry_schedule),
            message_id_domain=own_hostname(cfg.delivery.hostname, socket.getfqdn()),
            metrics=self.metrics,
            render_limits=RenderLimits(
                max_steps=cfg.render.max_steps,
                max_output_bytes=cfg.render.max_output_bytes,
                max_variable_depth=cfg.render.max_variable_depth,
            ),
            signer_for=signer_for if cfg.dkim.sign else None,
            return_path=return_path,
            unsubscribe_headers=unsubscribe_headers,
            held=held,
            track=track,
        )
        self.queues = QueueGate(self.store, self.clock)  # fair share, rates, retry overrides
        self.pipeline = SendPipeline(self.store, ctx, self.queues)
        self.handlers: dict[str, JobHandler] = dict(handlers or {})
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._claiming = True
        self._inflight: dict[int, Job] = {}
        self._job_done = asyncio.Event()  # set whenever a sender finishes a job (reload waits)
        self._retired: list[Provider] = []  # replaced by a reload, closed once their sends end
        self._retiring: set[asyncio.Task[None]] = set()
        self._pending = 0  # claimed, not yet finished (queued + in flight)
        self._tasks: list[asyncio.Task[None]] = []
        self.store.on_enqueue(self._on_enqueue)

    @property
    def ctx(self) -> SendContext:
        """What sends work with (router, blobs, clock, schedule, DKIM/VERP hooks)."""
        return self.pipeline.ctx

    @ctx.setter
    def ctx(self, ctx: SendContext) -> None:
        self.pipeline.ctx = ctx

    @property
    def providers(self) -> dict[str, Provider]:
        """The running providers by name (the pool's own mapping, shared with the router)."""
        return self.pool.providers

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
        leftover = await finish_or_release(self._tasks, grace, self._inflight, self.store.release)
        if leftover is not None:
            log.warning("delivery.stop.cancelled", extra={"fields": {"jobs": len(leftover)}})
        for task in self._retiring:
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        for provider in [*self.providers.values(), *self._retired]:
            with contextlib.suppress(Exception):
                await provider.aclose()

    def _drain_queue(self) -> list[Job]:
        out: list[Job] = []
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
                with traces.current().span("jobs.claim", {"iep.limit": n}) as span:
                    claimed = await self.store.claim_due(
                        self.clock.now(),
                        n,
                        self.lease,
                        lane=plan.lane,
                        lane_from=plan.lane_from,
                        hold_queues=plan.hold_queues,
                        hold_until=plan.hold_until,
                    )
                    span.set_attribute("iep.claimed", len(claimed))
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
            await self._run(item)
        except Exception as exc:
            log.exception("sender.crashed", extra={"fields": {"jobId": job.id}})
            error = exc.args[0] if isinstance(exc, LoadFailed) else crash_text(exc)
            await self._give_up(
                job, item.message, error, after_crash(job.attempts, self._schedule(job))
            )

    def _schedule(self, job: Job) -> tuple[int, ...]:
        if job.kind == "send":
            return self.pipeline.schedule_of(job)
        return tuple(self.ctx.schedule[: max(job.max_attempts - 1, 0)])

    def _max_attempts(self, job: Job) -> int:
        if job.kind == "send":
            return attempts_from(self._schedule(job))
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
                    [self.pipeline.crashed(job, message, error, retry_in)]
                )
                return
            except Exception:
                log.exception("sender.crash_not_recorded", extra={"fields": {"jobId": job.id}})
        retry_at = self.clock.now() + timedelta(seconds=retry_in) if retry_in is not None else None
        try:
            await self.store.fail_job(job, error, retry_at)
        except Exception:
            log.exception("job.crash_not_recorded", extra={"fields": {"jobId": job.id}})

    async def _run(self, item: Claimed) -> None:
        job = item.job
        job_id_var.set(job.id)
        tenant_id_var.set(job.tenant_id)
        if job.kind == "send":
            await self.pipeline.process(item)
            return
        handler = self.handlers.get(job.kind)
        if handler is None:  # dead-lettered, where an operator sees it, not left leased
            log.error("job.no_handler", extra={"fields": {"kind": job.kind}})
            await self.store.bury_job(job.id, f"no handler for job kind {job.kind!r}")
            return
        await handler(job)

    def forget_tenant(self, tenant_id: str) -> None:
        self.pipeline.forget_tenant(tenant_id)

    # ---- introspection ------------------------------------------------------------------------

    def in_hand(self) -> set[int]:
        """Ids of the jobs claimed and not yet finished on this node (their leases are live)."""
        return set(self._inflight)

    def provider_states(self) -> dict[str, str]:
        return self.router.states()

    def export_breakers(self) -> None:
        for name, breaker in self.router.breakers.items():
            self.metrics.circuit_state.labels(provider=name).set(breaker.state_code)

    def _count_claims(self, claimed: list[Job]) -> None:
        counter = self.metrics.jobs_claimed
        for job in claimed:
            counter.labels(kind=job.kind).inc()

    # ---- config reload ----------------------------------------------------------------------

    def reconfigure(
        self,
        providers: Mapping[str, ProviderConfig],
        routing: RoutingConfig,
        breaker: BreakerConfig,
    ) -> None:
        """Send through new `[providers.*]`, `[routing]` and `[breaker]` settings from now on.

        A provider whose table did not change keeps its object (its connections) and its
        breaker; a replaced or removed one is closed once the sends in flight now are done
        (they may be using it), or at stop at the latest."""
        self._breaker = breaker
        retired = self.pool.reconfigure(providers)
        self.router.reconfigure(routing.default_provider, routing.fallback_provider, breaker)
        self._retire_later(retired)

    def route_tenant_provider(self, provider_id: str, provider: Provider | None) -> None:
        """Send a tenant's mail routed to `provider_id` through `provider` from now on (None:
        the tenant provider is gone). Its breaker starts closed; the object it replaces is
        closed once the sends in flight now are done."""
        old = self.pool.set_tenant(provider_id, provider)
        self.router.reconfigure(self.router.default, self.router.fallback, self._breaker)
        self.pipeline.forget_all_tenants()  # cached tenant routing: read again
        self._retire_later([old] if old is not None else [])

    def _retire_later(self, retired: list[Provider]) -> None:
        if not retired:
            return
        self._retired.extend(retired)
        task = asyncio.create_task(self._retire(set(self._inflight), retired), name="retire")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _retire(self, in_flight: set[int], retired: list[Provider]) -> None:
        while in_flight & self._inflight.keys():  # until none of them is still in flight
            self._job_done.clear()
            await self._job_done.wait()
        for provider in retired:
            if provider in self._retired:
                self._retired.remove(provider)
                with contextlib.suppress(Exception):
                    await provider.aclose()
        event(log, "providers.retired", providers=[p.name for p in retired])
