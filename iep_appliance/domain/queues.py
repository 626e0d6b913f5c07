"""Named queues: names, the claim rank of a send job, and the fair-share claim policy. Pure.

Priority policy (how the scheduler orders due jobs):

- A send job's rank is `3 * (5 - queue priority) + message priority` (high 0, normal 1,
  low 2); lower ranks are claimed first. So the queue's priority (1-10) decides first and the
  message's own `priority` breaks ties inside it. The default queue (priority 5) keeps the
  ranks 0/1/2 that jobs had before queues existed; webhook jobs rank 1.
- Strict priority alone starves low queues under a sustained backlog, so every claim is split:
  `FAIR_SHARE` (1/8) of the claimed jobs come from a round-robin lane and the rest strictly by
  rank. The lane's cursor walks the ranks: it takes the best due job at a rank ≥ the cursor
  (wrapping to the top when there is none), then moves past the rank it served. Every rank with
  due jobs is reached once per walk, so a low queue slows down under pressure but never stops.
  The share is kept as credit across claims, so claims of one job at a time still average out.
- Paused queues are out of the claim altogether (their jobs wait in the state 'paused').
- A queue's `ratePerMinute` counts the send jobs claimed per UTC minute; what a claim takes
  over the budget is handed back with `run_at` at the next minute, together with the rest of
  that queue's due backlog, so the claim never steps over a throttled backlog.
"""

import re
from datetime import UTC, datetime, timedelta

from iep_appliance.domain.errors import FieldError, ValidationFailed
from iep_appliance.domain.models import PRIORITY_RANK
from iep_appliance.domain.retry import attempts_from

FAIR_SHARE = 0.125
DEFAULT_PRIORITY = 5
# Lowest and highest possible ranks: queue priority 10/high and 1/low.
MIN_RANK = 3 * (DEFAULT_PRIORITY - 10)
MAX_RANK = 3 * (DEFAULT_PRIORITY - 1) + 2
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_name(name: str, field: str = "name") -> str:
    """A queue name: 1-64 letters, digits, dot, dash or underscore, not starting with a sign."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ValidationFailed(
            [FieldError(field, "use 1-64 letters, digits, '.', '-' or '_' (start alphanumeric)")]
        )
    return name


def job_rank(queue_priority: int, message_priority: str) -> int:
    """The `jobs.priority` of a send job: lower is claimed first (see the module docstring)."""
    return 3 * (DEFAULT_PRIORITY - queue_priority) + PRIORITY_RANK[message_priority]


def rerank_sql_expression() -> str:
    """SQL giving a job's new rank after its queue's priority changed (`?` = new priority).

    The message's own priority is the rank modulo 3 (SQLite's % keeps the sign, so shift)."""
    return f"3 * ({DEFAULT_PRIORITY} - ?) + ((priority % 3) + 3) % 3"


def max_attempts(schedule: tuple[int, ...] | list[int]) -> int:
    """Attempts a retry schedule allows: the first try plus one per entry."""
    return attempts_from(schedule)


class FairShare:
    """How each claim splits between strict rank order and the round-robin lane.

    Example:
        fair = FairShare()
        strict, lane, lane_from = fair.split(32)       # e.g. (28, 4, MIN_RANK)
        jobs = claim(strict, lane, lane_from)
        fair.claimed([j.priority for j in jobs], lane)
    """

    def __init__(self, share: float = FAIR_SHARE) -> None:
        self.share = share
        self.credit = 0.0
        self.cursor = MIN_RANK

    def split(self, n: int) -> tuple[int, int, int]:
        """(strict count, lane count, lowest rank the lane may take) for a claim of `n`."""
        if n <= 0:
            return 0, 0, self.cursor
        self.credit += n * self.share
        lane = min(n, int(self.credit))
        self.credit -= lane
        return n - lane, lane, self.cursor

    def claimed(self, ranks: list[int], lane: int) -> None:
        """Move the cursor past the rank the lane served (or wrap when it found nothing)."""
        if lane <= 0:
            return
        at_or_after = [r for r in ranks if r >= self.cursor]
        if at_or_after:
            self.cursor = max(at_or_after) + 1
        elif ranks:  # the lane wrapped to the top
            self.cursor = min(ranks) + 1
        else:
            self.cursor = MIN_RANK
        if self.cursor > MAX_RANK:
            self.cursor = MIN_RANK


def minute_window(now: datetime) -> tuple[datetime, datetime]:
    """Start and end of the UTC minute containing `now` (queue rate windows)."""
    start = now.astimezone(UTC).replace(second=0, microsecond=0)
    return start, start + timedelta(minutes=1)


class QueueBudget:
    """Per-queue send budgets over fixed UTC minutes. Pure: `now` is passed in.

    `throttled(now)` names queues with nothing left this minute; `take(queue_id, n, limit, now)`
    returns how many of `n` claimed jobs fit (the rest go back to the window's end).
    """

    def __init__(self) -> None:
        self._windows: dict[str, tuple[datetime, int]] = {}

    def used(self, queue_id: str, now: datetime) -> int:
        start, _ = minute_window(now)
        window = self._windows.get(queue_id)
        return window[1] if window is not None and window[0] == start else 0

    def take(self, queue_id: str, n: int, limit: int | None, now: datetime) -> int:
        start, _ = minute_window(now)
        used = self.used(queue_id, now)
        fits = n if limit is None else max(0, min(n, limit - used))
        self._windows[queue_id] = (start, used + fits)
        return fits

    def throttled(self, limits: dict[str, int], now: datetime) -> list[str]:
        """Queues (of those with a limit) whose budget for this minute is spent."""
        return [q for q, limit in limits.items() if self.used(q, now) >= limit]
