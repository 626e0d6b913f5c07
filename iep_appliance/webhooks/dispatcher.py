"""The webhook pool: signed POSTs of `webhook` jobs to tenant endpoints (DESIGN §4).

What runs: the delivery engine's scheduler claims due `webhook` jobs together with send jobs
and hands each to `submit`, which queues it for one of `webhooks.concurrency` workers (and
waits while they are all busy, so claims stay bounded). A worker runs `deliver`:

    load endpoint (gone or inactive: DLQ) → body (pure) → sign with every live secret →
    resolve, check and pin the address → POST (no redirects, timeout) → next step (pure) →
    record attempt + the job's next state + endpoint health in one commit

Stop: queued jobs not yet started are released (not an attempt); POSTs in flight finish
within the grace, the rest are cancelled and released. A crash leaves leases that the next
start releases; the event then goes out again with the same `webhook-id`, so receivers can
drop the duplicate. An exception while delivering counts as a failed attempt (§10.1): the
job is retried on the schedule, then dead; it never comes back without end.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from iep_appliance import __version__, traces
from iep_appliance.clock import Clock
from iep_appliance.config import WebhooksConfig
from iep_appliance.domain import compat_resend, ids
from iep_appliance.domain.models import Job
from iep_appliance.domain.netaddr import UrlRefused
from iep_appliance.domain.signing import sign
from iep_appliance.domain.webhooks import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    body_for,
    decode_event,
    next_step,
    signing_secrets,
    webhook_id_for,
)
from iep_appliance.graceful_stop import finish_or_release
from iep_appliance.logs import event, job_id_var, message_id_var, tenant_id_var
from iep_appliance.metrics import Metrics
from iep_appliance.store.base import Store
from iep_appliance.webhooks.guard import Guard, pinned, pinned_client

log = logging.getLogger("iep.webhooks")

_READ_LIMIT = 64 * 1024  # response bytes read at most (kept only as an error snippet)
_SNIPPET = 200


class WebhookDispatcher:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        config: WebhooksConfig,
        metrics: Metrics,
        guard: Guard,
        reveal: Callable[[WebhookEndpoint], WebhookEndpoint | None],
    ) -> None:
        self.store = store
        self.reveal = reveal  # the endpoint with its secrets opened (stored sealed)
        self.clock = clock
        self.config = config
        self.metrics = metrics
        self.guard = guard
        self.schedule = tuple(config.retry_schedule)
        self._queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=config.concurrency)
        self._workers: list[asyncio.Task[None]] = []
        self._inflight: dict[int, Job] = {}
        self._client: httpx.AsyncClient | None = None

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._client = pinned_client(self.config.timeout_seconds, self.config.concurrency)
        for i in range(self.config.concurrency):
            self._workers.append(asyncio.create_task(self._worker(), name=f"webhook-{i}"))

    async def submit(self, job: Job) -> None:
        """The engine's handler for `webhook` jobs: queue it for a worker."""
        await self._queue.put(job)

    async def stop(self, grace: float) -> None:
        unstarted = []
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is not None:
                unstarted.append(job)
        if unstarted:
            await self.store.release(unstarted)
        for _ in self._workers:
            self._queue.put_nowait(None)
        await finish_or_release(self._workers, grace, self._inflight, self.store.release)
        self._workers.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _worker(self) -> None:
        while True:
            job = await self._queue.get()
            if job is None:
                return
            self._inflight[job.id] = job
            job_id_var.set(job.id)
            tenant_id_var.set(job.tenant_id)
            message_id_var.set(None)
            try:
                await self.run_one(job)
            finally:
                self._inflight.pop(job.id, None)

    async def run_one(self, job: Job) -> None:
        """Deliver one claimed job; an exception spends its attempt (see `crashed`)."""
        try:
            await self.deliver(job)
        except Exception as exc:
            log.exception("webhook.crashed", extra={"fields": {"jobId": job.id}})
            await self.crashed(job, exc)

    async def crashed(self, job: Job, exc: Exception) -> None:
        """A delivery that raised spends its attempt: retried on the schedule, then dead.
        If even that cannot be recorded, the lease expires and the re-claim counts."""
        step, delay = next_step(None, job.attempts, self.schedule)
        text = str(exc)
        error = f"crashed: {type(exc).__name__}" + (f": {text}"[:300] if text else "")
        retry_at = self.clock.now() + timedelta(seconds=delay) if step == "retrying" else None
        self.metrics.webhook_deliveries.labels(outcome=step).inc()
        try:
            await self.store.fail_job(job, error, retry_at)
        except Exception:
            log.exception("webhook.crash_not_recorded", extra={"fields": {"jobId": job.id}})

    # ---- one attempt -----------------------------------------------------------------------

    async def deliver(self, job: Job) -> None:
        """POST one event once and record what happened."""
        try:
            ev = decode_event(job.payload)
        except ValueError as exc:
            await self.store.drop_webhook_job(job.id, str(exc))
            return
        message_id_var.set(ev.message_id)
        endpoint = await self.store.get_webhook(job.tenant_id, job.ref_id)
        if endpoint is None:  # deleted: nothing could ever deliver it, so not a dead letter
            await self.store.cancel_webhook_job(job.id, "endpoint deleted")
            event(log, "webhook.dropped", endpointId=job.ref_id, reason="endpoint deleted")
            return
        if not endpoint.active:
            await self.store.drop_webhook_job(job.id, "endpoint inactive")
            event(log, "webhook.dropped", endpointId=job.ref_id, reason="endpoint inactive")
            return
        opened = self.reveal(endpoint)
        if opened is None:  # sealed under another master key, or altered: never retried
            await self.store.drop_webhook_job(job.id, "signing secret unreadable")
            event(log, "webhook.dropped", endpointId=job.ref_id, reason="secret unreadable")
            return
        webhook_id = webhook_id_for(job.id, job.tenant_id, ev)
        body = await self.body(job.tenant_id, endpoint, ev)
        now = self.clock.now()
        secrets = signing_secrets(opened, ids.iso(now))
        signed = sign(secrets, webhook_id, int(now.timestamp()), body)
        if endpoint.format == "resend":  # the same Standard Webhooks signature, as svix names it
            for name in ("id", "timestamp", "signature"):
                signed[f"svix-{name}"] = signed[f"webhook-{name}"]
        headers = {
            "content-type": "application/json",
            "user-agent": f"IEP-Webhooks/{__version__}",
            **signed,
        }
        started = time.perf_counter()
        with traces.current().span(
            "webhook.deliver",
            {"iep.webhook_id": endpoint.id, "iep.attempt": job.attempts},
            parent=job.traceparent,
            kind="client",
        ) as span:
            status, error = await self.post(endpoint.url, body, headers)
            span.set_attribute("http.response.status_code", status or 0)
        latency_ms = round((time.perf_counter() - started) * 1000)
        step, delay = next_step(status, job.attempts, self.schedule)
        done_at = self.clock.now()
        delivery = WebhookDelivery(
            id=self.clock.new_id(),
            endpoint_id=endpoint.id,
            tenant_id=job.tenant_id,
            webhook_id=webhook_id,
            event=ev.event,
            message_id=ev.message_id,
            attempt=job.attempts,
            status_code=status,
            latency_ms=latency_ms,
            error=error,
            next_retry_at=ids.iso(done_at + timedelta(seconds=delay))
            if step == "retrying"
            else None,
            created_at=ids.iso(now),
        )
        disabled = await self.store.record_webhook_attempt(
            self._attempt(job, endpoint, delivery, step, done_at)
        )
        self.metrics.webhook_deliveries.labels(outcome=step).inc()
        event(
            log,
            "webhook.attempt",
            logging.INFO if step == "delivered" else logging.WARNING,
            endpointId=endpoint.id,
            webhookId=webhook_id,
            event=ev.event,
            attempt=job.attempts,
            statusCode=status,
            latencyMs=latency_ms,
            outcome=step,
            error=error,
            nextRetryAt=delivery.next_retry_at,
        )
        if disabled:
            event(log, "webhook.endpoint_disabled", logging.WARNING, endpointId=endpoint.id)

    async def body(self, tenant_id: str, endpoint: WebhookEndpoint, ev: WebhookEvent) -> bytes:
        """IEP's body, or Resend's event (with the message's sender, recipients, subject)."""
        if endpoint.format != "resend":
            return body_for(tenant_id, ev)
        record = None
        if ev.message_id:
            record = await self.store.get_message(tenant_id, ev.message_id)
        return compat_resend.webhook_body(ev.event, ev.timestamp, ev.message_id, ev.data, record)

    def _attempt(
        self,
        job: Job,
        endpoint: WebhookEndpoint,
        delivery: WebhookDelivery,
        step: str,
        now: datetime,
    ) -> WebhookAttempt:
        hours = self.config.disable_after_hours
        if step == "delivered" or hours <= 0:
            return WebhookAttempt(delivery=delivery, job_id=job.id, outcome=step)
        since = endpoint.failing_since or delivery.created_at
        return WebhookAttempt(
            delivery=delivery,
            job_id=job.id,
            outcome=step,
            disable_if_failing_since=ids.iso(now - timedelta(hours=hours)),
            disabled_reason=(
                f"disabled after failing without a successful delivery for {hours:g} hours"
                f" (failing since {since}; last error: {delivery.error})"
            ),
        )

    async def post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        """(status code, error) of one POST to the checked, pinned address of `url`."""
        assert self._client is not None, "dispatcher not started"
        try:
            target = await self.guard.target(url)
        except UrlRefused as exc:
            return None, f"refused: {exc}"
        timeout = self.config.timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                with pinned(target):
                    async with self._client.stream(
                        "POST", url, content=body, headers=headers
                    ) as resp:
                        snippet = await _read_some(resp)
        except (TimeoutError, httpx.TimeoutException):
            return None, f"timed out after {timeout:g} s"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300]
        if 200 <= resp.status_code < 300:
            return resp.status_code, None
        text = snippet[:_SNIPPET].decode("utf-8", "replace").strip()
        return resp.status_code, f"HTTP {resp.status_code}" + (f": {text}" if text else "")


async def _read_some(resp: httpx.Response) -> bytes:
    """Up to `_READ_LIMIT` bytes of the body; a receiver cannot make us read more."""
    out = bytearray()
    with contextlib.suppress(httpx.StreamError):
        async for chunk in resp.aiter_raw():
            out += chunk
            if len(out) >= _READ_LIMIT:
                break
    return bytes(out)
