"""Per-tenant send limits over fixed UTC windows (minute, hour, day) and the header values.

Pure: the caller passes the current counts of each window (keyed by `window_starts(now)`)
and `now`; this module only decides and never counts.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import msgspec

__all__ = ["WINDOWS", "Limits", "RateDecision", "check", "window_starts"]

# Window name → length, shortest first (the order also breaks ties between windows).
WINDOWS: dict[str, timedelta] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}


class Limits(msgspec.Struct, frozen=True):
    """Messages allowed per window; None or 0 means unlimited."""

    per_minute: int | None = None
    per_hour: int | None = None
    per_day: int | None = None

    def by_window(self) -> dict[str, int]:
        """The limited windows only, shortest first."""
        pairs = (("minute", self.per_minute), ("hour", self.per_hour), ("day", self.per_day))
        return {name: limit for name, limit in pairs if limit}


class RateDecision(msgspec.Struct, frozen=True):
    """Whether the request may proceed, and the X-RateLimit-* / Retry-After values.

    All four numbers are None when the tenant has no limit. `remaining` counts what is left
    after this request when allowed, and what is left before it when refused.
    """

    allowed: bool
    limit: int | None = None
    remaining: int | None = None
    reset_seconds: int | None = None
    retry_after: int | None = None


def window_starts(now: datetime) -> dict[str, datetime]:
    """Start of the current minute, hour and day (UTC) containing `now` (an aware datetime)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    utc = now.astimezone(UTC)
    minute = utc.replace(second=0, microsecond=0)
    return {
        "minute": minute,
        "hour": minute.replace(minute=0),
        "day": minute.replace(hour=0, minute=0),
    }


def check(limits: Limits, counts: dict[str, int], now: datetime, n: int = 1) -> RateDecision:
    """May `n` more messages go out now, given `counts` already in each current window?

    Refused when count + n exceeds any window's limit; `retry_after` is then the seconds until
    the last of the blocking windows resets (sooner, another one would still block), and the
    headers describe that window. Allowed, the headers describe the window closest to exhaustion
    (smallest remaining; tie → shortest window).
    """
    limited = limits.by_window()
    if not limited:
        return RateDecision(allowed=True)
    starts = window_starts(now)
    utc_now = now.astimezone(UTC)
    rows: list[tuple[int, int, int, int, bool]] = []  # remaining before, order, limit, reset, block
    for order, (name, limit) in enumerate(limited.items()):
        count = counts.get(name, 0)
        left = (starts[name] + WINDOWS[name] - utc_now).total_seconds()
        reset = max(1, math.ceil(left))
        rows.append((limit - count, order, limit, reset, count + n > limit))
    blocking = [row for row in rows if row[4]]
    if blocking:
        before, _, limit, reset, _ = max(blocking, key=lambda row: (row[3], row[1]))
        return RateDecision(
            allowed=False,
            limit=limit,
            remaining=max(0, before),
            reset_seconds=reset,
            retry_after=reset,
        )
    before, _, limit, reset, _ = min(rows)
    return RateDecision(allowed=True, limit=limit, remaining=before - n, reset_seconds=reset)


class WindowCount(msgspec.Struct, frozen=True):
    """A tenant's stored count in one rate window (`window` is "minute", "hour" or "day")."""

    tenant_id: str
    window: str
    count: int
