"""One send attempt as a list of named steps, ending in a Completion for the store.

    load (done by the engine) → drop suppressed → render → build MIME → route + send →
    decide → Completion (job state, status, events, bounces, webhook event)

A render failure (and a render over a limit of `[render]`) is permanent; a provider reports
facts and `domain.retry.decide` turns them into the next step. Nothing here raises for an
expected failure. A render runs inline for its first `INLINE_RENDER_STEPS` steps (about 2 ms);
one that needs more is redone on the single render thread with the full budget, so a heavy
template never holds the event loop (measured: a step costs ~1 µs; a worker-thread hop costs
~55 µs per message, more than a typical render, so the normal case stays inline).
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import msgspec

from iep_appliance import traces
from iep_appliance.blobs import Blobs
from iep_appliance.clock import Clock
from iep_appliance.delivery.providers.base import Envelope
from iep_appliance.delivery.router import Route, Router
from iep_appliance.domain import ids
from iep_appliance.domain.breaker import health_failure
from iep_appliance.domain.compat_common import message_headers
from iep_appliance.domain.mime import MimeAttachment, MimeMessage, Signer, build_mime
from iep_appliance.domain.models import Completion, Job, MessageRecord, Routing
from iep_appliance.domain.outcomes import SendOutcome
from iep_appliance.domain.render import (
    Rendered,
    RenderError,
    RenderLimitExceeded,
    RenderLimits,
    render,
)
from iep_appliance.domain.retry import Decision, classify, decide, describe
from iep_appliance.logs import event

log = logging.getLogger("iep.sender")
MIN_DEFER_SECONDS = 1.0  # a deferred job is not claimed again sooner than this
HOLD_RECHECK_SECONDS = 60.0  # a held tenant's job is looked at again this often
INLINE_RENDER_STEPS = 2_000
# One thread for the heavy renders: several would share the GIL with the event loop and slow it.
_RENDER_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="iep-render")

WEBHOOK_EVENT = {
    "sent": "message.sent",
    "failed": "message.failed",
    "bounced": "message.bounced",
    "queued": "message.retrying",
}


class SendContext(msgspec.Struct):
    router: Router
    blobs: Blobs
    clock: Clock
    schedule: tuple[int, ...]
    message_id_domain: str
    metrics: Any = None
    signer: Signer | None = None  # DKIM hook: finished bytes in, signed bytes out
    render_limits: RenderLimits = RenderLimits()
    # DKIM (issue 16): the signer for a From address's domain, None when it has no key.
    signer_for: Callable[[str], Awaitable[Signer | None]] | None = None
    # VERP (issue 16): the envelope sender for a message id, e.g. bounce+TOKEN@bounce_domain.
    return_path: Callable[[str], str] | None = None
    # One-click unsubscribe (issue 16): List-Unsubscribe header lines for a message id.
    unsubscribe_headers: Callable[[str], bytes] | None = None
    # Reputation hold (DESIGN §10.3): True while a tenant's sending is held.
    held: Callable[[str], bool] | None = None


def drop_suppressed(
    message: MessageRecord, suppressed: frozenset[str]
) -> tuple[tuple[str, ...], list[str]]:
    """(envelope recipients still to send to, suppressed ones)."""
    everyone = (*message.to, *message.cc, *message.bcc)
    keep, dropped = [], []
    seen: set[str] = set()
    for rcpt in everyone:
        low = rcpt.lower()
        if low in seen:
            continue
        seen.add(low)
        (dropped if low in suppressed else keep).append(rcpt)
    return tuple(keep), dropped


def mime_for(
    message: MessageRecord,
    rendered: Rendered,
    attachments: tuple[MimeAttachment, ...],
    ctx: SendContext,
    signer: Signer | None = None,
) -> bytes:
    return build_mime(
        MimeMessage(
            message_id=message.id,
            from_email=message.from_email,
            from_name=message.from_name,
            to=message.to,
            cc=message.cc,
            reply_to=message.reply_to,
            names=message.display_names,
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            date=ctx.clock.now(),
            message_id_domain=ctx.message_id_domain,
            attachments=attachments,
            headers=message_headers(message.origin, message.metadata),
        ),
        signer or ctx.signer,
    )


async def render_message(message: MessageRecord, limits: RenderLimits) -> Rendered:
    """Render inline while it is cheap; past the inline slice, again on the render thread."""
    args = (message.subject, message.html_body, message.text_body, message.variables, limits)
    try:
        return render(*args, slice_steps=INLINE_RENDER_STEPS)
    except RenderLimitExceeded as exc:
        if not exc.deferred:
            raise
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_RENDER_THREAD, render, *args)


def with_unsubscribe(message: MessageRecord, ctx: SendContext, signer: Signer | None) -> Signer:
    """Prepend List-Unsubscribe headers (before DKIM signs them) when the message asks for it
    (`unsubscribe`; `metadata.unsubscribe` on messages accepted before that column)."""
    extra = b""
    asked = message.unsubscribe or message.metadata.get("unsubscribe") is True
    if ctx.unsubscribe_headers and asked:
        extra = ctx.unsubscribe_headers(message.id)

    inner = signer or ctx.signer

    def sign(raw: bytes) -> bytes:
        raw = extra + raw
        return inner(raw) if inner is not None else raw

    return sign


async def read_attachments(message: MessageRecord, blobs: Blobs) -> tuple[MimeAttachment, ...]:
    if not message.attachments:
        return ()

    def read_all() -> tuple[MimeAttachment, ...]:
        return tuple(
            MimeAttachment(a.filename, a.content_type, blobs.get(a.storage_key))
            for a in message.attachments
        )

    return await asyncio.to_thread(read_all)


async def process(
    job: Job,
    message: MessageRecord,
    routing: Routing,
    suppressed: frozenset[str],
    ctx: SendContext,
) -> Completion:
    """Run one attempt of `job` for `message` and say what to record."""
    if ctx.held is not None and ctx.held(message.tenant_id):
        return hold(job, message, ctx)
    base = {"sandbox": True} if message.sandbox else {}
    recipients, dropped = drop_suppressed(message, suppressed)
    events: list[tuple[str, dict[str, Any]]] = [
        ("suppressed", {**base, "recipient": r}) for r in dropped
    ]
    if not recipients:
        error = "all recipients are suppressed"
        return fail_now(job, message, events, base, error)
    if message.kind == "raw_mime":  # the client's MIME, sent as stored (issue 15)
        return await send_raw(job, message, recipients, routing, events, base, ctx)
    try:
        with traces.current().span("render"):
            rendered = await render_message(message, ctx.render_limits)
    except RenderError as exc:
        error = str(exc) if isinstance(exc, RenderLimitExceeded) else f"render failed: {exc}"
        return fail_now(job, message, events, base, error)
    try:
        attachments = await read_attachments(message, ctx.blobs)
    except OSError as exc:
        error = f"attachment unreadable: {exc}"
        return fail_now(job, message, events, base, error)
    sign = await signer_of(message, ctx)
    mime = mime_for(message, rendered, attachments, ctx, sign)
    return await send_and_record(
        job, message, recipients, routing, mime, rendered, events, base, ctx
    )


async def send_raw(
    job: Job,
    message: MessageRecord,
    recipients: tuple[str, ...],
    routing: Routing,
    events: list[tuple[str, dict[str, Any]]],
    base: dict[str, Any],
    ctx: SendContext,
) -> Completion:
    """A raw_mime message: no render, no build; the stored MIME (DKIM-signed when a signer
    is set) goes to the envelope recipients left after suppressions."""
    if message.raw_mime is None:
        error = "raw MIME missing from the store"
        return fail_now(job, message, events, base, error)
    sign = await signer_of(message, ctx)
    mime = sign(message.raw_mime)
    return await send_and_record(job, message, recipients, routing, mime, None, events, base, ctx)


async def signer_of(message: MessageRecord, ctx: SendContext) -> Signer:
    """What signs `message`'s MIME: its domain's DKIM key (when it has one), after the
    List-Unsubscribe headers it asked for are prepended."""
    signer = await ctx.signer_for(message.from_email) if ctx.signer_for else None
    return with_unsubscribe(message, ctx, signer)


async def send_and_record(
    job: Job,
    message: MessageRecord,
    recipients: tuple[str, ...],
    routing: Routing,
    mime: bytes,
    rendered: Rendered | None,
    events: list[tuple[str, dict[str, Any]]],
    base: dict[str, Any],
    ctx: SendContext,
) -> Completion:
    """Send `mime` by the message's route and say what to record; while every route's
    breaker is open, wait for a trial without spending the attempt."""
    sent = await send_via_route(ctx, message, recipients, mime, routing)
    if isinstance(sent, Route):
        return defer(job, message, sent, ctx)
    outcome, provider = sent
    decision = decide(outcome, job.attempts, ctx.schedule)
    return _record(job, message, decision, outcome, provider, rendered, events, base, ctx)


def fail_now(
    job: Job,
    message: MessageRecord,
    events: list[tuple[str, dict[str, Any]]],
    base: dict[str, Any],
    error: str,
) -> Completion:
    """A permanent failure found before anything was sent (suppressed, render, attachments,
    missing MIME): `failed` with `error`, no retry."""
    return _complete(
        job,
        message,
        "failed",
        [*events, ("failed", {**base, "error": error})],
        error=error,
        webhook="failed",
    )


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
        with traces.current().span(
            "provider.send", {"iep.provider": route.provider}, kind="client"
        ) as span:
            outcome = await provider.send(envelope, mime)
            span.set_attribute("iep.smtp_code", outcome.code or 0)
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
    ctx.router.record(route.provider, not unhealthy, ctx.clock.monotonic(), error)
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


def defer(job: Job, message: MessageRecord, route: Route, ctx: SendContext) -> Completion:
    """Put the job back until the breaker's trial, giving back the attempt its claim counted.

    Nothing was sent, so nothing else is recorded: suppressions and webhooks come with the
    real attempt.
    """
    wait = max(MIN_DEFER_SECONDS, route.wait_seconds)
    retry_at = ids.iso(ctx.clock.now() + timedelta(seconds=wait))
    error = (
        f"circuit open for provider {route.primary!r} and no healthy fallback;"
        f" waiting for its trial at {retry_at} (no attempt spent)"
    )
    if ctx.metrics is not None:
        ctx.metrics.deferred_sends.labels(route.primary).inc()
    data: dict[str, Any] = {"deferred": True, "provider": route.primary, "retryAt": retry_at}
    if message.sandbox:
        data["sandbox"] = True
    return Completion(
        job_id=job.id,
        message_id=message.id,
        tenant_id=message.tenant_id,
        status="queued",
        attempts=max(job.attempts - 1, 0),
        error=error,
        retry_at=retry_at,
        deferred=True,
        events=(("queued", data),),
    )


def hold(job: Job, message: MessageRecord, ctx: SendContext) -> Completion:
    """The tenant's sending is held (reputation): back to queued until the next look, the
    attempt given back, no event (a resume makes the job due at once)."""
    retry_at = ids.iso(ctx.clock.now() + timedelta(seconds=HOLD_RECHECK_SECONDS))
    return Completion(
        job_id=job.id,
        message_id=message.id,
        tenant_id=message.tenant_id,
        status="queued",
        attempts=max(job.attempts - 1, 0),
        error="held: the tenant's sending is paused for its bounce or complaint rate"
        " until an operator resumes it (no attempt spent)",
        retry_at=retry_at,
        deferred=True,
    )


def crashed(
    job: Job, message: MessageRecord, error: str, retry_in: int | None, ctx: SendContext
) -> Completion:
    """What to record after attempt `job.attempts` crashed: a retry in `retry_in` seconds, or
    (None) `failed` into the DLQ. The caller picked `retry_in` with `retry.after_crash`."""
    base = {"sandbox": True} if message.sandbox else {}
    info = {**base, "attempt": job.attempts, "error": error}
    if retry_in is not None:
        retry_at = ids.iso(ctx.clock.now() + timedelta(seconds=retry_in))
        events = [("retry_scheduled", {**info, "retryAt": retry_at})]
        return _complete(
            job, message, "queued", events, error=error, retry_at=retry_at, webhook="queued"
        )
    events = [("failed", info), ("dlq", info)]
    return _complete(job, message, "failed", events, error=error, dead=True, webhook="failed")


def _record(
    job: Job,
    message: MessageRecord,
    d: Decision,
    outcome: SendOutcome,
    provider: str,
    rendered: Rendered | None,
    events: list[tuple[str, dict[str, Any]]],
    base: dict[str, Any],
    ctx: SendContext,
) -> Completion:
    now = ctx.clock.now()
    info = {**base, "provider": provider, "attempt": job.attempts}
    for r in d.bounced:
        events.append(
            (
                "bounced",
                {**info, "recipient": r.address, "code": r.code, "error": f"{r.code} {r.message}"},
            )
        )
    hard = tuple(r.address for r in d.bounced)
    rendered_t = (rendered.subject, rendered.html, rendered.text) if rendered else None
    subject = rendered.subject if rendered else message.subject
    if d.kind == "sent":
        data = {**info, "providerMessageId": outcome.provider_message_id}
        if d.error:
            data["note"] = d.error
        events.append(("sent", data))
        return _complete(
            job,
            message,
            "sent",
            events,
            provider=provider,
            rendered=rendered_t,
            sent_at=ids.iso(now),
            hard=hard,
            webhook="sent",
            error=None,
            subject=subject,
        )
    if d.kind == "retry":
        retry_at = ids.iso(now + timedelta(seconds=d.retry_in or 0))
        events.append(("retry_scheduled", {**info, "error": d.error, "retryAt": retry_at}))
        return _complete(
            job,
            message,
            "queued",
            events,
            provider=provider,
            rendered=rendered_t,
            error=d.error,
            retry_at=retry_at,
            webhook="queued",
            hard=hard,
            subject=subject,
        )
    if d.kind == "bounced":
        return _complete(
            job,
            message,
            "bounced",
            events,
            provider=provider,
            rendered=rendered_t,
            error=d.error,
            hard=hard,
            webhook="bounced",
            subject=subject,
        )
    events.append(("failed", {**info, "error": d.error}))
    if d.dlq:
        events.append(("dlq", {**info, "error": d.error}))
    return _complete(
        job,
        message,
        "failed",
        events,
        provider=provider,
        rendered=rendered_t,
        error=d.error,
        dead=d.dlq,
        webhook="failed",
        hard=hard,
        subject=rendered.subject,
    )


def _complete(
    job: Job,
    message: MessageRecord,
    status: str,
    events: list[tuple[str, dict[str, Any]]],
    *,
    error: str | None,
    webhook: str,
    provider: str | None = None,
    rendered: tuple[str, str, str] | None = None,
    sent_at: str | None = None,
    retry_at: str | None = None,
    dead: bool = False,
    hard: tuple[str, ...] = (),
    subject: str | None = None,
) -> Completion:
    data: dict[str, Any] = {
        "to": list(message.to),
        "subject": subject if subject is not None else message.subject,
        "provider": provider,
        "attempts": job.attempts,
    }
    if error:
        data["error"] = error
    if message.sandbox:
        data["sandbox"] = True
    return Completion(
        job_id=job.id,
        message_id=message.id,
        tenant_id=message.tenant_id,
        status=status,
        attempts=job.attempts,
        provider=provider,
        error=error,
        retry_at=retry_at,
        dead=dead,
        rendered=rendered,
        sent_at=sent_at,
        events=tuple(events),
        hard_bounces=hard,
        webhook_event=WEBHOOK_EVENT[status],
        webhook_data=data,
    )
