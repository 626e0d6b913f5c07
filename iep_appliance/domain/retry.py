"""Turns a `SendOutcome` into an error class and the next step for the job (DESIGN §5).

`classify()` is the only place that decides transient versus permanent; `decide()` applies the
retry schedule. Pure: the schedule and the attempt count come in as arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

from iep_appliance.domain.outcomes import RecipientRejection, SendOutcome

__all__ = [
    "Decision",
    "ErrorClass",
    "after_crash",
    "attempts_from",
    "classify",
    "decide",
    "describe",
    "validate_schedule",
]

ErrorClass = Literal["ok", "transient", "permanent", "bounced"]


class Decision(msgspec.Struct, frozen=True):
    """What to do with the job after one attempt.

    `retry_in` (seconds) is set for "retry"; `dlq` marks a transient failure that ran out of
    attempts; `error` is the readable reply for `lastError` and the event; `bounced` lists the
    recipients refused with 5xx (bounce events, suppression counting).
    """

    kind: Literal["sent", "retry", "failed", "bounced"]
    retry_in: int | None = None
    dlq: bool = False
    error: str | None = None
    bounced: tuple[RecipientRejection, ...] = ()


def _is_4xx(code: int | None) -> bool:
    return code is not None and 400 <= code < 500


def _is_5xx(code: int | None) -> bool:
    return code is not None and 500 <= code < 600


def classify(outcome: SendOutcome) -> ErrorClass:
    """Error class of one attempt.

    - handed over to at least one recipient → "ok" (5xx RCPT rejections are bounces within it;
      4xx RCPT rejections of a message sent to others are not retried: one message, one status)
    - network error or timeout → "transient"; render failure → "permanent"
    - auth failure (stage "auth" with any code, or 535) → "permanent"
    - HTTP provider: 429 or 5xx → "transient", anything else → "permanent"
    - nobody accepted at RCPT: every refusal 5xx → "bounced"; any 4xx among them → "transient"
      (the 5xx ones are refused again on the retry and bounce then)
    - otherwise by the final reply: 4xx → "transient", 5xx → "permanent"; no reply at all
      (connection dropped without a code) → "transient", bounded by the schedule
    """
    if outcome.ok:
        return "ok"
    stage = outcome.stage
    if stage in ("network", "timeout") or outcome.network_error is not None:
        return "transient"
    if stage == "render":
        return "permanent"
    if stage == "auth" or outcome.code == 535:
        return "permanent"
    if stage == "http":
        code = outcome.code
        return "transient" if code is None or code == 429 or code >= 500 else "permanent"
    if stage in ("rcpt", None) and not outcome.accepted and outcome.rejected:
        if any(_is_4xx(r.code) for r in outcome.rejected):
            return "transient"
        if all(_is_5xx(r.code) for r in outcome.rejected):
            return "bounced"
    if _is_5xx(outcome.code):
        return "permanent"
    return "transient"


def _reply(code: int | None, enhanced_code: str | None, message: str) -> str:
    return " ".join(
        part for part in (str(code) if code else "", enhanced_code or "", message) if part
    )


def describe(outcome: SendOutcome) -> str:
    """Readable server reply for `lastError`, e.g. "554 5.6.0 Message rejected (at DATA)"."""
    if outcome.network_error is not None:
        where = f" (at {outcome.stage.upper()})" if outcome.stage else ""
        return f"network error: {outcome.network_error}{where}"
    if outcome.stage in ("rcpt", None) and outcome.rejected and not outcome.accepted:
        return "; ".join(f"{r.code} {r.message} <{r.address}>" for r in outcome.rejected)
    text = _reply(outcome.code, outcome.enhanced_code, outcome.message)
    if outcome.stage is None:
        return text
    if outcome.stage == "timeout" and not text:
        return "timed out"
    return f"{text or 'no reply'} (at {outcome.stage.upper()})"


def decide(outcome: SendOutcome, attempts_made: int, schedule: Sequence[int]) -> Decision:
    """Next step after the attempt numbered `attempts_made` (1 after the first try).

    A transient failure is retried after `schedule[attempts_made - 1]` seconds while the schedule
    lasts (so len(schedule) + 1 attempts in all), then fails into the DLQ.
    """
    if attempts_made < 1:
        raise ValueError(f"attempts_made counts this attempt and starts at 1, got {attempts_made}")
    error_class = classify(outcome)
    bounced = tuple(r for r in outcome.rejected if _is_5xx(r.code))
    if error_class == "ok":
        deferred = [r for r in outcome.rejected if not _is_5xx(r.code)]
        error = (
            "not retried: " + "; ".join(f"{r.code} {r.message} <{r.address}>" for r in deferred)
            if deferred
            else None
        )
        return Decision(kind="sent", error=error, bounced=bounced)
    error = describe(outcome)
    if error_class == "bounced":
        return Decision(kind="bounced", error=error, bounced=bounced)
    if error_class == "permanent":
        return Decision(kind="failed", error=error)
    if attempts_made <= len(schedule):
        return Decision(kind="retry", retry_in=schedule[attempts_made - 1], error=error)
    return Decision(kind="failed", dlq=True, error=error)


def attempts_from(schedule: Sequence[int]) -> int:
    """Attempts a retry schedule allows in all: the first try plus one per entry."""
    return len(schedule) + 1


def after_crash(attempts_made: int, schedule: Sequence[int]) -> int | None:
    """Seconds until the next try of a job whose attempt `attempts_made` crashed (an exception,
    or the process died and its lease expired), or None: give up into the DLQ (§10.1).

    A crash is a transient failure like any other, so the schedule bounds it: at most
    len(schedule) + 1 attempts in all, never a retry loop without end."""
    if 1 <= attempts_made <= len(schedule):
        return schedule[attempts_made - 1]
    return None


def validate_schedule(values: object) -> bool:
    """A retry schedule is a list (or tuple) of positive integer seconds; empty means no retry."""
    if not isinstance(values, list | tuple):
        return False
    return all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values)
