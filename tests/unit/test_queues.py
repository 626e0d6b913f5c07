"""domain/queues.py: job ranks, the fair-share claim split, per-minute queue budgets, names."""

from datetime import UTC, datetime, timedelta

import pytest

from iep_appliance.domain.errors import ValidationFailed
from iep_appliance.domain.queues import (
    MAX_RANK,
    MIN_RANK,
    FairShare,
    QueueBudget,
    check_name,
    job_rank,
    minute_window,
)


@pytest.mark.parametrize(
    ("queue_priority", "message_priority", "rank"),
    [
        (5, "high", 0),  # the default queue keeps the ranks jobs had before queues
        (5, "normal", 1),
        (5, "low", 2),
        (10, "high", MIN_RANK),
        (10, "low", -13),
        (6, "low", -1),  # queue priority decides before message priority
        (4, "high", 3),
        (1, "low", MAX_RANK),
    ],
)
def test_rank_orders_by_queue_priority_then_message_priority(
    queue_priority: int, message_priority: str, rank: int
) -> None:
    assert job_rank(queue_priority, message_priority) == rank


def test_the_lane_takes_one_in_eight_claimed_jobs_even_one_at_a_time() -> None:
    fair = FairShare()
    lanes = [fair.split(1)[1] for _ in range(800)]
    assert sum(lanes) == 100
    big = FairShare()
    strict, lane, _ = big.split(32)
    assert (strict, lane) == (28, 4)


def test_the_lane_cursor_walks_every_rank_present_then_wraps() -> None:
    fair = FairShare()
    ranks_present = [-14, 1, 13]
    served: list[int] = []
    for _ in range(9):
        _s, _lane, cursor = fair.split(8)  # 8 * 1/8: one lane job per claim
        # the lane takes the best rank >= cursor, else (wrapping) the best overall
        pick = min((r for r in ranks_present if r >= cursor), default=min(ranks_present))
        served.append(pick)
        fair.claimed([-14, pick], lane=1)
    assert set(served) == set(ranks_present)
    assert served[:3] == [-14, 1, 13] and served[3:6] == [-14, 1, 13]


def test_a_claim_without_lane_leaves_the_cursor_alone() -> None:
    fair = FairShare()
    fair.claimed([5, 6], lane=0)
    assert fair.cursor == MIN_RANK


def test_queue_budget_counts_per_utc_minute() -> None:
    budget = QueueBudget()
    t0 = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    assert budget.take("q", 2, 3, t0) == 2
    assert budget.take("q", 5, 3, t0) == 1
    assert budget.throttled({"q": 3, "other": 3}, t0) == ["q"]
    assert budget.take("q", 1, 3, t0 + timedelta(seconds=29)) == 0
    nxt = t0 + timedelta(seconds=30)
    assert budget.throttled({"q": 3}, nxt) == []
    assert budget.take("q", 5, 3, nxt) == 3
    assert budget.take("free", 1000, None, nxt) == 1000


def test_minute_window_is_the_utc_minute() -> None:
    start, end = minute_window(datetime(2026, 1, 1, 12, 0, 59, 999000, tzinfo=UTC))
    assert start == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert end == datetime(2026, 1, 1, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize("name", ["default", "news-letter", "a", "Q_1.2", "x" * 64])
def test_good_queue_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", ".x", "has space", "x" * 65, "ünï", "a/b"])
def test_bad_queue_names_name_the_field(name: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        check_name(name)
    assert [e.path for e in err.value.errors] == ["name"]
