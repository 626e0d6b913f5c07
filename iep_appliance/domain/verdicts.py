"""What one send attempt came to, and what that records: one table. Pure: `now` comes in.

The send pipeline (delivery/sender.py) ends every attempt in a `Verdict`; `completion()`
turns it into the `Completion` the store writes in one transaction (job state, message status,
events, hard bounces, webhook event). `OUTCOMES` says, per verdict, the message status, the
event that closes the attempt, whether the job goes to the DLQ, the webhook event, and whether
the attempt the claim counted is spent or given back (nothing was sent):

    verdict     status    closing event     DLQ  webhook           attempt
    sent        sent      sent                   message.sent      spent
    retry       queued    retry_scheduled        message.retrying  spent   (transient, or a crash)
    bounced     bounced   —                      message.bounced   spent   (every recipient 5xx)
    failed      failed    failed                 message.failed    spent   (permanent)
    gave_up     failed    failed + dlq      yes  message.failed    spent   (out of attempts)
    suppressed  failed    failed                 message.failed    spent   (no recipient left)
    unsendable  failed    failed                 message.failed    spent   (render, attachment,
                                                                            missing raw MIME)
    deferred    queued    queued                 —                 back    (every breaker open)
    held        queued    —                      —                 back    (reputation hold)
    missing     failed    —                      —                 spent   (message purged)

Before the closing event: one `suppressed` event per recipient dropped (when the attempt was
spent) and one `bounced` event per recipient refused with 5xx.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

import msgspec

from iep_appliance.domain import ids
from iep_appliance.domain.models import Completion, Job, MessageRecord
from iep_appliance.domain.outcomes import RecipientRejection
from iep_appliance.domain.retry import Decision

VerdictKind = Literal[
    "sent",
    "retry",
    "bounced",
    "failed",
    "gave_up",
    "suppressed",
    "unsendable",
    "deferred",
    "held",
    "missing",
]
Event = tuple[str, dict[str, Any]]


class Outcome(NamedTuple):
    """One row of `OUTCOMES`."""

    status: str
    closing: str | None  # the event that closes the attempt's events
    webhook: str | None = None
    dead: bool = False  # `dlq` after the closing event; the job is dead
    spent: bool = True  # False: the attempt is given back, nothing else recorded
    numbered: bool = True  # the events say which attempt (`attempt`) it was
    error: str | None = None  # the error when the verdict has none ({provider}, {retry_at})


OUTCOMES: dict[VerdictKind, Outcome] = {
    "sent": Outcome("sent", "sent", "message.sent"),
    "retry": Outcome("queued", "retry_scheduled", "message.retrying"),
    "bounced": Outcome("bounced", None, "message.bounced"),
    "failed": Outcome("failed", "failed", "message.failed"),
    "gave_up": Outcome("failed", "failed", "message.failed", dead=True),
    "suppressed": Outcome(
        "failed", "failed", "message.failed", numbered=False, error="all recipients are suppressed"
    ),
    "unsendable": Outcome("failed", "failed", "message.failed", numbered=False),
    "deferred": Outcome(
        "queued",
        "queued",
        spent=False,
        numbered=False,
        error="circuit open for provider {provider!r} and no healthy fallback;"
        " waiting for its trial at {retry_at} (no attempt spent)",
    ),
    "held": Outcome(
        "queued",
        None,
        spent=False,
        error="held: the tenant's sending is paused for its bounce or complaint rate"
        " until an operator resumes it (no attempt spent)",
    ),
    "missing": Outcome("failed", None, error="message missing"),
}


class Verdict(msgspec.Struct, frozen=True):
    """What one attempt came to. `provider`: who sent it (deferred: the primary whose breaker
    is open); `retry_in`: seconds until the job is due again (retry, deferred, held);
    `note`: a sent message's remark (recipients refused with 4xx, not retried)."""

    kind: VerdictKind
    error: str | None = None
    provider: str | None = None
    retry_in: float | None = None
    bounced: tuple[RecipientRejection, ...] = ()
    provider_message_id: str | None = None
    note: str | None = None


def completion(
    job: Job,
    message: MessageRecord | None,
    verdict: Verdict,
    now: datetime,
    rendered: tuple[str, str, str] | None = None,
    suppressed: Sequence[str] = (),
) -> Completion:
    """What to record for `verdict` on attempt `job.attempts` of `message` (None: it is gone).
    `rendered`: (subject, html, text) when it was rendered; `suppressed`: the recipients
    dropped because they are suppressed."""
    row = OUTCOMES[verdict.kind]
    retry_at = None
    if verdict.kind in ("retry", "deferred", "held"):
        retry_at = ids.iso(now + timedelta(seconds=verdict.retry_in or 0))
    error = verdict.error
    if error is None and row.error is not None:
        error = row.error.format(provider=verdict.provider, retry_at=retry_at)
    attempts = job.attempts if row.spent else max(job.attempts - 1, 0)
    if message is None:
        return Completion(
            job_id=job.id,
            message_id=job.ref_id,
            tenant_id=job.tenant_id,
            status=row.status,
            attempts=attempts,
            error=error,
        )
    events = _events(job, message, verdict, row, error, retry_at, suppressed)
    provider = verdict.provider if row.spent else None
    return Completion(
        job_id=job.id,
        message_id=message.id,
        tenant_id=message.tenant_id,
        status=row.status,
        attempts=attempts,
        provider=provider,
        error=None if verdict.kind == "sent" else error,
        retry_at=retry_at,
        dead=row.dead,
        rendered=rendered if row.spent else None,
        sent_at=ids.iso(now) if verdict.kind == "sent" else None,
        events=tuple(events),
        deferred=not row.spent,
        hard_bounces=tuple(r.address for r in verdict.bounced),
        webhook_event=row.webhook,
        webhook_data=_webhook_data(job, message, provider, error, rendered) if row.webhook else {},
    )


def _events(
    job: Job,
    message: MessageRecord,
    verdict: Verdict,
    row: Outcome,
    error: str | None,
    retry_at: str | None,
    suppressed: Sequence[str],
) -> list[Event]:
    base: dict[str, Any] = {"sandbox": True} if message.sandbox else {}
    events: list[Event] = []
    if row.spent:
        events.extend(("suppressed", {**base, "recipient": r}) for r in suppressed)
    info = dict(base)
    if verdict.provider is not None:
        info["provider"] = verdict.provider
    if row.numbered:
        info["attempt"] = job.attempts
    for r in verdict.bounced:
        bounce = {"recipient": r.address, "code": r.code, "error": f"{r.code} {r.message}"}
        events.append(("bounced", {**info, **bounce}))
    if row.closing == "sent":
        sent = {**info, "providerMessageId": verdict.provider_message_id}
        events.append(("sent", {**sent, "note": verdict.note} if verdict.note else sent))
    elif row.closing == "retry_scheduled":
        events.append(("retry_scheduled", {**info, "error": error, "retryAt": retry_at}))
    elif row.closing == "queued":
        events.append(("queued", {**info, "deferred": True, "retryAt": retry_at}))
    elif row.closing is not None:
        events.append((row.closing, {**info, "error": error}))
    if row.dead:
        events.append(("dlq", {**info, "error": error}))
    return events


def _webhook_data(
    job: Job,
    message: MessageRecord,
    provider: str | None,
    error: str | None,
    rendered: tuple[str, str, str] | None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "to": list(message.to),
        "subject": rendered[0] if rendered else message.subject,
        "provider": provider,
        "attempts": job.attempts,
    }
    if error:
        data["error"] = error
    if message.sandbox:
        data["sandbox"] = True
    return data


def from_decision(
    decision: Decision, provider: str, provider_message_id: str | None = None
) -> Verdict:
    """The verdict of an attempt that reached `provider`, from `retry.decide`'s Decision."""
    kind: VerdictKind = decision.kind
    if decision.kind == "failed" and decision.dlq:
        kind = "gave_up"
    return Verdict(
        kind,
        error=None if kind == "sent" else decision.error,
        provider=provider,
        retry_in=decision.retry_in,
        bounced=decision.bounced,
        provider_message_id=provider_message_id if kind == "sent" else None,
        note=decision.error if kind == "sent" else None,
    )


def after_crash_verdict(error: str, retry_in: int | None) -> Verdict:
    """A crashed attempt (`retry.after_crash` chose `retry_in`; None: out of attempts)."""
    if retry_in is None:
        return Verdict("gave_up", error=error)
    return Verdict("retry", error=error, retry_in=retry_in)
