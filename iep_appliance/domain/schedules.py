"""Recurring sends: the scheduled job record, cron + IANA timezone validation and tick maths.

Pure: no I/O beyond the stdlib's tz database, no clock reads (`now` and `after` are passed).

A *tick* is one UTC instant at which a job's cron matches its wall clock. Ticks are computed
in local wall time and then converted to UTC, so `0 9 * * *` in Europe/Berlin fires at 09:00
Berlin time in winter and in summer. Around DST transitions:

- spring forward (a gap): a wall time the clock skips runs the length of the gap later
  (02:30 on a 02:00→03:00 night runs at 03:30). A tick that lands on an instant that is
  already a tick is the same tick, so nothing runs twice and nothing is lost;
- fall back (a fold): a repeated wall time runs once, at its first occurrence, unless the
  cron's hour field is `*` (the job runs every hour, and the repeated hour is a real hour of
  its life), in which case it runs at both occurrences.
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from croniter import CroniterBadDateError, CroniterError, croniter

from iep_appliance.domain.errors import FieldError

PayloadKind = Literal["message", "batch"]
# Far larger than any real DST shift (at most 2 h): the window in which gap and fold
# effects can move a tick relative to its neighbours.
_DST_SLACK = timedelta(hours=3)
_MAX_STEPS = 5000


class ScheduledJob(msgspec.Struct, frozen=True):
    """A recurring send as the store keeps it. `payload` is the JSON body of a send or a batch
    (camelCase, as received); `revision` changes on every update, so a run that read an older
    revision does not overwrite it."""

    id: str
    tenant_id: str
    name: str
    cron: str
    timezone: str
    kind: PayloadKind
    payload: dict[str, Any]
    active: bool
    sandbox: bool
    revision: int
    last_run_at: str | None
    next_run_at: str | None
    created_at: str
    updated_at: str


class ScheduledRun(msgspec.Struct, frozen=True):
    """One tick of one job: what it created, or why it created nothing."""

    scheduled_job_id: str
    tick: str
    created_at: str
    message_id: str | None = None
    batch_id: str | None = None
    count: int = 0
    error: str | None = None


class CronSpec(msgspec.Struct, frozen=True):
    cron: str
    timezone: str


# What a job's fields mean, the same in a create and a patch.
_NAME_DOC = msgspec.Meta(description="A label for the job.")
_CRON_DOC = msgspec.Meta(description="Five-field cron expression of when it runs.")
_TIMEZONE_DOC = msgspec.Meta(description="IANA time zone the cron expression is read in.")
_ACTIVE_DOC = msgspec.Meta(description="Whether it runs; false pauses it.")


class ScheduledJobIn(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    """Body of POST /v1/scheduled-jobs: exactly one of `message` (a send body) or `batch`."""

    name: Annotated[str, _NAME_DOC]
    cron: Annotated[str, _CRON_DOC]
    timezone: Annotated[str, _TIMEZONE_DOC] = "UTC"
    message: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(description="A send body (as POST /v1/messages) sent at each run."),
    ] = None
    batch: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(description="A batch body (as POST /v1/messages/batch) sent at each run."),
    ] = None
    active: Annotated[bool, _ACTIVE_DOC] = True


class ScheduledJobPatch(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    """Body of PATCH /v1/scheduled-jobs/{id}: any subset; `message` replaces a `batch`."""

    name: Annotated[str | msgspec.UnsetType, _NAME_DOC] = msgspec.UNSET
    cron: Annotated[str | msgspec.UnsetType, _CRON_DOC] = msgspec.UNSET
    timezone: Annotated[str | msgspec.UnsetType, _TIMEZONE_DOC] = msgspec.UNSET
    message: Annotated[
        dict[str, Any] | msgspec.UnsetType,
        msgspec.Meta(description="A send body sent at each run (replaces `batch`)."),
    ] = msgspec.UNSET
    batch: Annotated[
        dict[str, Any] | msgspec.UnsetType,
        msgspec.Meta(description="A batch body sent at each run (replaces `message`)."),
    ] = msgspec.UNSET
    active: Annotated[bool | msgspec.UnsetType, _ACTIVE_DOC] = msgspec.UNSET


# Fields of a send that the scheduler sets for each run.
RUN_OWNED_FIELDS = {
    "idempotencyKey": "is set by the scheduler for each run",
    "scheduledAt": "is set by the cron expression",
}


def check_job_fields(
    name: str, cron: str, timezone: str, message: Any, batch: Any
) -> tuple[list[FieldError], str | None, PayloadKind | None]:
    """Errors in everything but the payload's content, the normalised cron and the kind."""
    errors: list[FieldError] = []
    if not name.strip() or len(name) > 200:
        errors.append(FieldError("name", "must be 1-200 characters"))
    normalised = check_cron(cron, errors)
    check_timezone(timezone, errors)
    kind: PayloadKind | None = None
    if (message is None) == (batch is None):
        errors.append(FieldError("message", "give exactly one of message or batch"))
    else:
        kind = "message" if message is not None else "batch"
        for field, why in RUN_OWNED_FIELDS.items():
            if (message if message is not None else batch).get(field) is not None:
                errors.append(FieldError(f"{kind}.{field}", why))
    return errors, normalised, kind


def check_cron(expr: str, errors: list[FieldError], field: str = "cron") -> str | None:
    """The normalised 5-field expression, or None with an error naming `field`."""
    if not isinstance(expr, str) or not expr.strip():
        errors.append(FieldError(field, "must be a 5-field cron expression"))
        return None
    parts = expr.split()
    if len(parts) != 5:
        errors.append(
            FieldError(field, "must have exactly 5 fields: minute hour day-of-month month weekday")
        )
        return None
    normalised = " ".join(parts)
    try:
        it = croniter(normalised, datetime(2000, 1, 1, tzinfo=UTC))
        it.get_next(datetime)
    except CroniterBadDateError:
        errors.append(FieldError(field, "never matches a date"))
        return None
    except (CroniterError, ValueError, KeyError, IndexError) as exc:
        errors.append(FieldError(field, f"not a valid cron expression: {exc}"))
        return None
    return normalised


def check_timezone(name: str, errors: list[FieldError], field: str = "timezone") -> str | None:
    """The IANA zone name, or None with an error naming `field`."""
    if not isinstance(name, str) or not name.strip():
        errors.append(FieldError(field, "must be an IANA timezone name such as Europe/Berlin"))
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        errors.append(FieldError(field, f"unknown IANA timezone {name!r}"))
        return None
    return name


def _runs_every_hour(it: croniter) -> bool:
    hours = it.expanded[1]
    return hours == ["*"] or len(hours) == 24


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def instants_of(wall: datetime, tz: ZoneInfo, both_folds: bool) -> list[datetime]:
    """The UTC instants at which a matching wall time fires (see the module docstring)."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first == second:
        return [first]
    if first > second:  # a gap: fold=0 reads the wall time with the offset before the jump
        return [first]
    return [first, second] if both_folds else [first]


def _shift_near(instant: datetime, tz: ZoneInfo) -> timedelta:
    """How far the zone's offset moves within a few hours of `instant` (zero: no transition)."""
    before = (instant - _DST_SLACK).astimezone(tz).utcoffset() or timedelta(0)
    after = (instant + _DST_SLACK).astimezone(tz).utcoffset() or timedelta(0)
    return abs(after - before)


def next_tick(spec: CronSpec, after: datetime) -> datetime | None:
    """The first tick strictly after `after` (UTC), or None if the cron never matches again."""
    tz = ZoneInfo(spec.timezone)
    start = _wall(after, tz)
    try:
        it = croniter(spec.cron, start)
        both = _runs_every_hour(it)
        shift = _shift_near(after, tz)
        if not shift:
            # Far from a transition nothing earlier than wall(after) can fire after `after`,
            # and a wall time that is neither skipped nor repeated has one instant.
            wall = it.get_next(datetime)
            first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
            if first == wall.replace(tzinfo=tz, fold=1).astimezone(UTC):
                return first
        return _next_tick_slow(spec.cron, tz, both, after, shift)
    except CroniterBadDateError:
        return None


def _next_tick_slow(
    cron: str, tz: ZoneInfo, both: bool, after: datetime, shift: timedelta
) -> datetime | None:
    """Near a transition that moves the offset by `shift`: a wall time earlier than
    wall(after) by less than `shift` may still fire after `after`, and once a candidate is
    found only walls less than `shift` past its own can fire before it. Scan that window."""
    it = croniter(cron, _wall(after, tz) - shift)
    best: datetime | None = None
    bound: datetime | None = None
    for _ in range(_MAX_STEPS):
        wall = it.get_next(datetime)
        if bound is not None and wall > bound:
            break
        for instant in instants_of(wall, tz, both):
            if instant > after and (best is None or instant < best):
                best = instant
                bound = _wall(best, tz) + shift
    return best


def latest_tick(spec: CronSpec, not_after: datetime, since: datetime) -> datetime | None:
    """The last tick in [since, not_after], or None when there is none.

    Scans windows that grow eightfold from one hour, so a dense cron never walks a long
    downtime minute by minute and a sparse one still finds its last tick."""
    if since > not_after:
        return None
    window = timedelta(hours=1)
    while True:
        lo = max(since - timedelta(microseconds=1), not_after - window)
        tick = next_tick(spec, lo)
        if tick is not None and tick <= not_after:
            for _ in range(_MAX_STEPS * 10):
                following = next_tick(spec, tick)
                if following is None or following > not_after:
                    return tick
                tick = following
            return tick
        if lo < since:
            return None
        window *= 8


def due_tick(spec: CronSpec, next_run_at: datetime, now: datetime) -> datetime | None:
    """Catch-up policy: of the ticks in [next_run_at, now] only the latest runs."""
    if next_run_at > now:
        return None
    following = next_tick(spec, next_run_at)
    if following is None or following > now:
        return next_run_at
    return latest_tick(spec, now, next_run_at)


def tick_key(job_id: str, tick: str) -> str:
    """The idempotency key of the messages a tick creates: a re-run replays, never duplicates."""
    return f"sched:{job_id}:{tick}"
