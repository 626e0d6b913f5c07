"""One send attempt, from a claimed job to its recorded outcome, as named steps:

    load (the scheduler did it: claims.py) → hold check → suppression check → route and
    queue overrides → render → sign (compose.py) → send → decide → record

Every attempt ends in one `Verdict` (domain/verdicts.py); its table says what that records
(status, events, DLQ, webhook event). A step that finds the message cannot be sent raises
`Unsendable`, and the one failure path turns it into its verdict. A provider reports facts
and `domain.retry.decide` judges them; nothing here raises for an expected failure.
"""

import asyncio
import logging
import time
from collections.abc import Iterable

import msgspec

from iep_appliance.delivery.claims import Claimed
from iep_appliance.delivery.compose import Unsendable, compose
from iep_appliance.delivery.context import SendContext
from iep_appliance.delivery.providers.base import Envelope
from iep_appliance.delivery.queues import QueueGate
from iep_appliance.delivery.router import Route
from iep_appliance.domain import ids
from iep_appliance.domain.breaker import health_failure
from iep_appliance.domain.errors import StoreUnavailable
from iep_appliance.domain.models import Completion, Job, MessageRecord, Routing
from iep_appliance.domain.outcomes import SendOutcome
from iep_appliance.domain.retry import classify, decide, describe
from iep_appliance.domain.verdicts import (
    Verdict,
    after_crash_verdict,
    completion,
    from_decision,
)
from iep_appliance.logs import event, message_id_var
from iep_appliance.store.base import Store

log = logging.getLogger("iep.sender")
MIN_DEFER_SECONDS = 1.0  # a deferred job is not claimed again sooner than this
HOLD_RECHECK_SECONDS = 60.0  # a held tenant's job is looked at again this often
ROUTING_CACHE_SECONDS = 5.0  # a tenant's routing settings are read again after this long
COMPLETION_RETRY_FIRST_SECONDS = 0.25  # then doubling, up to:
COMPLETION_RETRY_MAX_SECONDS = 5.0


class SendPipeline:
    """Runs the attempts of claimed send jobs and records their outcomes."""

    def __init__(self, store: Store, ctx: SendContext, queues: QueueGate) -> None:
        self.store = store
        self.ctx = ctx
        self.queues = queues
        self._routing: dict[str, tuple[Routing, float]] = {}

    async def process(self, item: Claimed) -> None:
        """One attempt of a claimed send job, ending in its recorded outcome."""
        job, message = item.job, item.message
        message_id_var.set(job.ref_id)
        if message is None:  # deleted under us (purge): nothing to send
            await self.record(completion(job, None, Verdict("missing"), self.ctx.clock.now()))
            return
        routing = await self.routing_of(job.tenant_id)  # the tenant's route override
        ctx = self.context_for(job)  # the queue's retry-schedule override
        done = await attempt(job, message, item.suppressed or frozenset(), routing, ctx)
        await self.record(done)
        self._observe(message, done)

    def crashed(
        self, job: Job, message: MessageRecord, error: str, retry_in: int | None
    ) -> Completion:
        """What to record after attempt `job.attempts` crashed: a retry in `retry_in` seconds,
        or (None) `failed` into the DLQ. The caller chose `retry_in` with `retry.after_crash`."""
        return completion(job, message, after_crash_verdict(error, retry_in), self.ctx.clock.now())

    async def record(self, done: Completion) -> None:
        """Record a finished attempt. While the store cannot commit (full or read-only disk),
        try again within seconds, backing off — never leave it to the lease to expire, which
        would send the message a second time."""
        delay = COMPLETION_RETRY_FIRST_SECONDS
        while True:
            try:
                await self.store.finish_sends([done])
                return
            except StoreUnavailable as exc:
                log.warning(
                    "completion.retrying",
                    extra={"fields": {"error": exc.reason, "retryInSeconds": delay}},
                )
            await asyncio.sleep(delay)  # real seconds: the disk fills and empties in real time
            delay = min(delay * 2, COMPLETION_RETRY_MAX_SECONDS)

    # ---- overrides ------------------------------------------------------------------------------

    def schedule_of(self, job: Job) -> tuple[int, ...]:
        """The retry schedule of a send job: its queue's, or `[delivery].retry_schedule`."""
        override = self.queues.schedule_of(job)
        return self.ctx.schedule if override is None else override

    def context_for(self, job: Job) -> SendContext:
        override = self.queues.schedule_of(job)
        if override is None:
            return self.ctx
        return msgspec.structs.replace(self.ctx, schedule=override)

    async def routing_of(self, tenant_id: str) -> Routing:
        hit = self._routing.get(tenant_id)
        now = self.ctx.clock.monotonic()
        if hit is not None and now - hit[1] < ROUTING_CACHE_SECONDS:
            return hit[0]
        tenant = await self.store.get_tenant(tenant_id)
        routing = tenant.settings.routing if tenant else Routing()
        self._routing[tenant_id] = (routing, now)
        return routing

    def forget_tenant(self, tenant_id: str) -> None:
        self._routing.pop(tenant_id, None)

    def _observe(self, message: MessageRecord, done: Completion) -> None:
        m = self.ctx.metrics
        if m is None or done.deferred:  # nothing was sent (iep_sends_deferred_total counts it)
            return
        status = "retry_scheduled" if done.status == "queued" else done.status
        m.messages.labels(status, message.tenant_id, done.provider or "").inc()
        if done.status == "sent":
            created = ids.parse_iso(message.created_at)
            m.message_duration.observe((self.ctx.clock.now() - created).total_seconds())


# ---- the steps of one attempt ---------------------------------------------------------------


async def attempt(
    job: Job,
    message: MessageRecord,
    suppressed: frozenset[str],
    routing: Routing,
    ctx: SendContext,
) -> Completion:
    """Run attempt `job.attempts` of `message` and say what to record."""
    if ctx.held is not None and ctx.held(message.tenant_id):  # reputation: wait, attempt back
        return completion(
            job, message, Verdict("held", retry_in=HOLD_RECHECK_SECONDS), ctx.clock.now()
        )
    recipients, dropped = drop_suppressed(message, suppressed)
    rendered = None
    try:
        if not recipients:
            raise Unsendable("suppressed")
        mime, rendered = await compose(message, ctx)
        verdict = await send(job, message, recipients, routing, mime, ctx)
    except Unsendable as exc:
        verdict = Verdict(exc.kind, error=exc.error)
    body = (rendered.subject, rendered.html, rendered.text) if rendered else None
    return completion(job, message, verdict, ctx.clock.now(), body, dropped)


def drop_suppressed(
    message: MessageRecord, suppressed: Iterable[str]
) -> tuple[tuple[str, ...], list[str]]:
    """(envelope recipients still to send to, suppressed ones); `suppressed` is lower-case."""
    blocked = frozenset(suppressed)
    keep: list[str] = []
    dropped: list[str] = []
    seen: set[str] = set()
    for rcpt in (*message.to, *message.cc, *message.bcc):
        low = rcpt.lower()
        if low in seen:
            continue
        seen.add(low)
        (dropped if low in blocked else keep).append(rcpt)
    return tuple(keep), dropped


async def send(
    job: Job,
    message: MessageRecord,
    recipients: tuple[str, ...],
    routing: Routing,
    mime: bytes,
    ctx: SendContext,
) -> Verdict:
    """Send `mime` by the message's route and decide what comes next; while every route's
    breaker is open, wait for a trial without spending the attempt."""
    sent = await send_via_route(ctx, message, recipients, mime, routing)
    if isinstance(sent, Route):
        if ctx.metrics is not None:
            ctx.metrics.deferred_sends.labels(sent.primary).inc()
        wait = max(MIN_DEFER_SECONDS, sent.wait_seconds)
        return Verdict("deferred", provider=sent.primary, retry_in=wait)
    outcome, provider = sent
    decision = decide(outcome, job.attempts, ctx.schedule)
    return from_decision(decision, provider, outcome.provider_message_id)


async def send_via_route(
    ctx: SendContext,
    message: MessageRecord,
    recipients: tuple[str, ...],
    mime: bytes,
    routing: Routing,
) -> tuple[SendOutcome, str] | Route:
    """Send through the route the breakers allow: (outcome, provider), or the Route itself when
    none is allowed (nothing was sent)."""
    route = ctx.router.route(routing, message.sandbox, ctx.clock.monotonic())
    if route.provider is None:
        return route
    provider = ctx.router.providers[route.provider]
    started = time.perf_counter()
    mail_from = ctx.return_path(message.id) if ctx.return_path else message.from_email
    envelope = Envelope(mail_from, recipients, message.id, message.tenant_id)
    try:
        outcome = await provider.send(envelope, mime)
    except Exception as exc:  # a provider bug: log it, treat as transient
        log.exception("provider.crashed", extra={"fields": {"provider": route.provider}})
        outcome = SendOutcome(
            provider=route.provider,
            stage="network",
            network_error=f"provider error: {type(exc).__name__}",
        )
    verdict = classify(outcome)
    # The breaker judges the provider, not the message (DESIGN §10.1): a 5xx to this message
    # at MAIL/RCPT/DATA is a healthy provider's answer.
    # (The newest failure of any kind still shows as the provider's last error on the dashboard.)
    unhealthy = health_failure(outcome)
    error = None if verdict in ("ok", "bounced") else describe(outcome)
    ctx.router.record(route.provider, not unhealthy, ctx.clock.monotonic(), error, provider)
    if ctx.metrics is not None and verdict != "ok":
        ctx.metrics.provider_errors.labels(route.provider, verdict).inc()
    event(
        log,
        "send.attempt",
        provider=route.provider,
        fellBack=route.fell_back,
        outcome=verdict,
        code=outcome.code,
        durationMs=round((time.perf_counter() - started) * 1000, 2),
        recipients=len(recipients),
    )
    return outcome, route.provider
