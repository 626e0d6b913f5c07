"""Delivery analytics rules: query ranges, zero-filled buckets and rates. Pure; `now` is passed.

Counts are status *changes* per UTC hour (a message queued at 10:59 and sent at 11:01 adds
`queued` to the 10:00 bucket and `sent` to the 11:00 one). Buckets are UTC hours or UTC days;
`from` is floored and `to` ceiled to whole buckets, `to` exclusive.
"""

from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec

from iep_appliance.domain import ids
from iep_appliance.domain.errors import FieldError, ValidationFailed

GroupBy = Literal["hour", "day"]
# Every status a bucket reports, in this order (zero when nothing happened).
STATS_STATUSES: tuple[str, ...] = (
    "queued",
    "scheduled",
    "sent",
    "failed",
    "bounced",
    "retried",
    "cancelled",
)
DEFAULT_SPAN = {"hour": timedelta(hours=24), "day": timedelta(days=30)}
STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
MAX_BUCKETS = 2000


class StatsQuery(msgspec.Struct, frozen=True):
    group_by: GroupBy
    start: str  # ISO, aligned to the bucket, inclusive
    end: str  # ISO, aligned to the bucket, exclusive
    queue: str | None = None
    category: str | None = None
    tag: str | None = None


def floor_to(when: datetime, group_by: str) -> datetime:
    when = when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return when.replace(hour=0) if group_by == "day" else when


def ceil_to(when: datetime, group_by: str) -> datetime:
    floored = floor_to(when, group_by)
    return floored if floored == when else floored + STEP[group_by]


def _parse_when(name: str, value: str, errors: list[FieldError]) -> datetime | None:
    text = value if "T" in value or len(value) != 10 else value + "T00:00:00Z"
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        errors.append(FieldError(name, "must be an ISO 8601 date or date-time"))
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _clean(name: str, value: str | None, errors: list[FieldError]) -> str | None:
    if value is None:
        return None
    if not value.strip() or len(value) > 200:
        errors.append(FieldError(name, "must be 1-200 characters"))
    return value


def stats_query(
    now: datetime,
    group_by: str | None = None,
    start: str | None = None,
    end: str | None = None,
    queue: str | None = None,
    category: str | None = None,
    tag: str | None = None,
) -> StatsQuery:
    """Validate the query parameters of /v1/analytics/*. Raises ValidationFailed naming them.

    Defaults: `groupBy=hour`; the range ends with the current bucket and spans 24 hours
    (hour) or 30 days (day); a lone `from` or `to` gets the default span on its other side."""
    errors: list[FieldError] = []
    g = group_by or "hour"
    if g not in STEP:
        errors.append(FieldError("groupBy", "must be hour or day"))
        g = "hour"
    lo = _parse_when("from", start, errors) if start is not None else None
    hi = _parse_when("to", end, errors) if end is not None else None
    for name, value in (("queue", queue), ("category", category), ("tag", tag)):
        _clean(name, value, errors)
    if errors:
        raise ValidationFailed(errors)
    span = DEFAULT_SPAN[g]
    if hi is None:
        hi = lo + span if lo is not None else floor_to(now, g) + STEP[g]
    if lo is None:
        lo = hi - span
    lo, hi = floor_to(lo, g), ceil_to(hi, g)
    if lo >= hi:
        raise ValidationFailed([FieldError("to", "must be after from")])
    if (hi - lo) / STEP[g] > MAX_BUCKETS:
        raise ValidationFailed(
            [FieldError("from", f"range spans more than {MAX_BUCKETS} {g} buckets")]
        )
    return StatsQuery(
        group_by=g,  # type: ignore[arg-type]
        start=ids.iso(lo),
        end=ids.iso(hi),
        queue=queue,
        category=category,
        tag=tag,
    )


def bucket_starts(q: StatsQuery) -> list[str]:
    """Every bucket start in [q.start, q.end) as ISO text."""
    step = STEP[q.group_by]
    at, end = ids.parse_iso(q.start), ids.parse_iso(q.end)
    out = []
    while at < end:
        out.append(ids.iso(at))
        at += step
    return out


def fill_buckets(q: StatsQuery, rows: "list[StatusCount]") -> list[tuple[str, dict[str, int]]]:
    """Zero-filled buckets from the rollups' counts; unknown statuses kept."""
    width = 13 if q.group_by == "hour" else 10
    buckets = {start: dict.fromkeys(STATS_STATUSES, 0) for start in bucket_starts(q)}
    by_prefix = {start[:width]: counts for start, counts in buckets.items()}
    for row in rows:
        counts = by_prefix.get(row.bucket)
        if counts is not None:
            counts[row.status] = counts.get(row.status, 0) + row.count
    return list(buckets.items())


def rates(totals: dict[str, int]) -> tuple[float, float]:
    """(deliveryRate, bounceRate) over finished messages (sent + failed + bounced); 0.0 when
    nothing finished yet."""
    sent, failed, bounced = (totals.get(s, 0) for s in ("sent", "failed", "bounced"))
    finished = sent + failed + bounced
    if finished == 0:
        return 0.0, 0.0
    return round(sent / finished, 6), round(bounced / finished, 6)


class StatusCount(msgspec.Struct, frozen=True):
    """Status changes counted in one bucket of the rollups (`bucket` is the hour's or day's
    ISO prefix: 13 or 10 characters)."""

    bucket: str
    status: str
    count: int
