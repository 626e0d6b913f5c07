"""Analytics rules (domain/analytics.py): ranges, alignment, zero-filled buckets and rates."""

from datetime import UTC, datetime

import pytest

from iep_appliance.domain.analytics import (
    STATS_STATUSES,
    StatsQuery,
    StatusCount,
    fill_buckets,
    rates,
    stats_query,
)
from iep_appliance.domain.errors import ValidationFailed

NOW = datetime(2026, 3, 10, 14, 25, tzinfo=UTC)


def test_default_hour_range_is_the_last_24_hours_ending_with_the_current_hour() -> None:
    q = stats_query(NOW)
    assert (q.group_by, q.start, q.end) == (
        "hour",
        "2026-03-09T15:00:00.000Z",
        "2026-03-10T15:00:00.000Z",
    )


def test_default_day_range_is_the_last_30_days_ending_with_today() -> None:
    q = stats_query(NOW, group_by="day")
    assert (q.start, q.end) == ("2026-02-09T00:00:00.000Z", "2026-03-11T00:00:00.000Z")


def test_from_is_floored_and_to_ceiled_to_whole_buckets() -> None:
    q = stats_query(NOW, "hour", "2026-03-10T10:30:00Z", "2026-03-10T12:10:00+00:00")
    assert (q.start, q.end) == ("2026-03-10T10:00:00.000Z", "2026-03-10T13:00:00.000Z")
    q = stats_query(NOW, "day", "2026-03-01", "2026-03-03")
    assert (q.start, q.end) == ("2026-03-01T00:00:00.000Z", "2026-03-03T00:00:00.000Z")


def test_offsets_are_converted_to_utc() -> None:
    q = stats_query(NOW, "hour", "2026-03-10T10:00:00+02:00", "2026-03-10T11:00:00+02:00")
    assert (q.start, q.end) == ("2026-03-10T08:00:00.000Z", "2026-03-10T09:00:00.000Z")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"group_by": "week"}, "groupBy"),
        ({"start": "yesterday"}, "from"),
        ({"end": "2026-13-01"}, "to"),
        ({"start": "2026-03-02", "end": "2026-03-01"}, "to"),
        ({"group_by": "hour", "start": "2020-01-01", "end": "2026-01-01"}, "from"),
        ({"tag": ""}, "tag"),
    ],
)
def test_bad_parameters_are_named(kwargs: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        stats_query(NOW, **kwargs)
    assert field in [e.path for e in caught.value.errors]


def test_buckets_are_zero_filled_and_carry_every_status() -> None:
    q = StatsQuery("hour", "2026-03-10T10:00:00.000Z", "2026-03-10T13:00:00.000Z")
    buckets = fill_buckets(
        q, [StatusCount("2026-03-10T11", "sent", 4), StatusCount("2026-03-10T11", "failed", 1)]
    )
    assert [start for start, _ in buckets] == [
        "2026-03-10T10:00:00.000Z",
        "2026-03-10T11:00:00.000Z",
        "2026-03-10T12:00:00.000Z",
    ]
    assert buckets[0][1] == dict.fromkeys(STATS_STATUSES, 0)
    assert (buckets[1][1]["sent"], buckets[1][1]["failed"], buckets[1][1]["queued"]) == (4, 1, 0)


def test_day_buckets_sum_their_hours() -> None:
    q = StatsQuery("day", "2026-03-09T00:00:00.000Z", "2026-03-11T00:00:00.000Z")
    buckets = dict(fill_buckets(q, [StatusCount("2026-03-10", "sent", 7)]))
    assert buckets["2026-03-10T00:00:00.000Z"]["sent"] == 7
    assert buckets["2026-03-09T00:00:00.000Z"]["sent"] == 0


@pytest.mark.parametrize(
    ("totals", "expected"),
    [
        ({}, (0.0, 0.0)),
        ({"sent": 8, "failed": 1, "bounced": 1}, (0.8, 0.1)),
        ({"queued": 5}, (0.0, 0.0)),
        ({"sent": 3}, (1.0, 0.0)),
    ],
)
def test_rates_are_over_finished_messages(
    totals: dict[str, int], expected: tuple[float, float]
) -> None:
    assert rates(totals) == expected
