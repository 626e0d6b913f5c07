from datetime import UTC, datetime, timedelta, timezone

import pytest

from iep_appliance.domain.ratelimit import Limits, RateDecision, check, window_starts

NOW = datetime(2026, 3, 4, 10, 20, 30, 250000, tzinfo=UTC)  # 29.75 s left in the minute


def test_window_starts_are_utc_floors() -> None:
    assert window_starts(NOW) == {
        "minute": datetime(2026, 3, 4, 10, 20, tzinfo=UTC),
        "hour": datetime(2026, 3, 4, 10, tzinfo=UTC),
        "day": datetime(2026, 3, 4, tzinfo=UTC),
    }


def test_window_starts_convert_other_zones_to_utc() -> None:
    local = datetime(2026, 3, 4, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert window_starts(local)["day"] == datetime(2026, 3, 3, tzinfo=UTC)


def test_window_starts_refuse_naive_datetimes() -> None:
    with pytest.raises(ValueError):
        window_starts(datetime(2026, 3, 4))  # noqa: DTZ001


@pytest.mark.parametrize("limits", [Limits(), Limits(per_minute=0, per_hour=None, per_day=0)])
def test_no_limits_allow_everything_without_headers(limits: Limits) -> None:
    assert check(limits, {"minute": 10**9}, NOW, n=1000) == RateDecision(allowed=True)


@pytest.mark.parametrize(
    ("limits", "counts", "n", "expected"),
    [
        # below every limit: headers show the window with the least left
        (Limits(60, 1000, None), {"minute": 10, "hour": 990}, 1, RateDecision(True, 1000, 9, 2370)),
        (Limits(60, 1000, None), {"minute": 50, "hour": 100}, 1, RateDecision(True, 60, 9, 30)),
        # tie on remaining: the shorter window wins
        (Limits(10, 20, None), {"minute": 0, "hour": 10}, 1, RateDecision(True, 10, 9, 30)),
        # exactly reaching the limit is allowed
        (Limits(10, None, None), {"minute": 9}, 1, RateDecision(True, 10, 0, 30)),
        # a batch counts one per recipient
        (Limits(10, None, None), {"minute": 5}, 5, RateDecision(True, 10, 0, 30)),
        (Limits(10, None, None), {"minute": 5}, 6, RateDecision(False, 10, 5, 30, 30)),
        (Limits(10, None, None), {"minute": 10}, 1, RateDecision(False, 10, 0, 30, 30)),
        (Limits(None, None, 100), {}, 1, RateDecision(True, 100, 99, 49170)),
        (Limits(None, None, 100), {"day": 100}, 1, RateDecision(False, 100, 0, 49170, 49170)),
        # minute and hour both exhausted: wait for the hour, the later reset
        (
            Limits(10, 100, None),
            {"minute": 10, "hour": 100},
            1,
            RateDecision(False, 100, 0, 2370, 2370),
        ),
        # only the minute blocks even though the hour has less left overall
        (Limits(10, 12, None), {"minute": 10, "hour": 5}, 1, RateDecision(False, 10, 0, 30, 30)),
    ],
)
def test_check_decides_and_describes_the_closest_window(
    limits: Limits, counts: dict[str, int], n: int, expected: RateDecision
) -> None:
    assert check(limits, counts, NOW, n) == expected


def test_retry_after_is_at_least_one_second() -> None:
    almost = datetime(2026, 3, 4, 10, 20, 59, 999999, tzinfo=UTC)
    decision = check(Limits(1, None, None), {"minute": 1}, almost)
    assert (decision.allowed, decision.retry_after) == (False, 1)


def test_missing_counts_mean_an_empty_window() -> None:
    assert check(Limits(5, None, None), {}, NOW).remaining == 4
