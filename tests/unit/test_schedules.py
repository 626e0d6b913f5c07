"""Cron ticks of recurring sends (domain/schedules.py): 5-field validation, IANA zones, and the
DST rules of the module docstring, checked by tables and against a brute-force reference that
walks every minute of the days around real transitions."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from iep_appliance.domain.errors import FieldError
from iep_appliance.domain.schedules import (
    CronSpec,
    check_cron,
    check_job_fields,
    check_timezone,
    due_tick,
    latest_tick,
    next_tick,
    tick_key,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "tz", "after", "expected"),
    [
        # Plain UTC, every minute and daily.
        ("* * * * *", "UTC", utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 1)),
        ("* * * * *", "UTC", utc(2026, 1, 1, 0, 0, 30), utc(2026, 1, 1, 0, 1)),
        ("0 9 * * *", "UTC", utc(2026, 1, 1, 9, 0), utc(2026, 1, 2, 9, 0)),
        # 09:00 Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
        ("0 9 * * *", "Europe/Berlin", utc(2026, 1, 10), utc(2026, 1, 10, 8, 0)),
        ("0 9 * * *", "Europe/Berlin", utc(2026, 7, 10), utc(2026, 7, 10, 7, 0)),
        # Spring forward in New York (2026-03-08, 02:00 EST → 03:00 EDT): 02:30 does not
        # exist and runs the length of the gap later, at 03:30 EDT (07:30 UTC) ...
        ("30 2 * * *", "America/New_York", utc(2026, 3, 8, 0), utc(2026, 3, 8, 7, 30)),
        # ... and the day after at 02:30 EDT again.
        ("30 2 * * *", "America/New_York", utc(2026, 3, 8, 8), utc(2026, 3, 9, 6, 30)),
        # Hourly across the gap: 01:00 EST (06:00Z) is followed by 03:00 EDT (07:00Z), once.
        ("0 * * * *", "America/New_York", utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 7, 0)),
        ("0 * * * *", "America/New_York", utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 8, 0)),
        # Fall back in New York (2026-11-01, 02:00 EDT → 01:00 EST): a fixed 01:30 runs once,
        # at its first occurrence (01:30 EDT = 05:30Z) ...
        ("30 1 * * *", "America/New_York", utc(2026, 11, 1, 0), utc(2026, 11, 1, 5, 30)),
        ("30 1 * * *", "America/New_York", utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)),
        # ... while an every-hour job runs in both 01:00 hours (05:00Z and 06:00Z).
        ("0 * * * *", "America/New_York", utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 6, 0)),
        ("0 * * * *", "America/New_York", utc(2026, 11, 1, 6, 0), utc(2026, 11, 1, 7, 0)),
        # Every minute keeps running through the repeated hour (01:59 EDT → 01:00 EST).
        ("* * * * *", "America/New_York", utc(2026, 11, 1, 5, 59), utc(2026, 11, 1, 6, 0)),
        # Lord Howe moves by 30 minutes: 02:15 is skipped on 2026-10-04 and runs at 02:45.
        ("15 2 * * *", "Australia/Lord_Howe", utc(2026, 10, 3, 12), utc(2026, 10, 3, 15, 45)),
    ],
)
def test_next_tick_is_computed_in_local_time(
    cron: str, tz: str, after: datetime, expected: datetime
) -> None:
    assert next_tick(CronSpec(cron, tz), after) == expected


def _reference(cron: str, tzname: str, start: datetime, end: datetime) -> list[datetime]:
    """Every tick in [start, end] by walking each UTC minute: the documented policy, spelled
    out the slow way."""
    tz = ZoneInfo(tzname)
    hours = croniter(cron, datetime(2000, 1, 1, tzinfo=UTC)).expanded[1]
    every_hour = hours == ["*"] or len(hours) == 24
    ticks: set[datetime] = set()
    seen: set[datetime] = set()
    at = start
    while at <= end:
        local = at.astimezone(tz)
        wall = local.replace(tzinfo=None)
        seen.add(wall)
        repeated = (
            wall.replace(tzinfo=tz, fold=0).utcoffset()
            != wall.replace(tzinfo=tz, fold=1).utcoffset()
        )
        if croniter.match(cron, wall) and (not repeated or local.fold == 0 or every_hour):
            ticks.add(at)
        at += timedelta(minutes=1)
    wall = start.astimezone(tz).replace(tzinfo=None)
    last = end.astimezone(tz).replace(tzinfo=None)
    while wall <= last:  # skipped wall times run the gap later
        if wall not in seen and croniter.match(cron, wall):
            shifted = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
            if start <= shifted <= end:
                ticks.add(shifted)
        wall += timedelta(minutes=1)
    return sorted(ticks)


@pytest.mark.parametrize(
    ("tz", "transition"),
    [
        ("America/New_York", utc(2026, 3, 8, 7)),
        ("America/New_York", utc(2026, 11, 1, 6)),
        ("Europe/Berlin", utc(2026, 3, 29, 1)),
        ("Europe/Berlin", utc(2026, 10, 25, 1)),
        ("Australia/Lord_Howe", utc(2026, 10, 3, 15, 30)),
        ("Australia/Lord_Howe", utc(2026, 4, 4, 15)),
    ],
)
@pytest.mark.parametrize("cron", ["*/10 * * * *", "30 * * * *", "30 2 * * *", "0,30 1-2 * * *"])
def test_ticks_around_a_transition_match_the_minute_by_minute_reference(
    tz: str, transition: datetime, cron: str
) -> None:
    zone = ZoneInfo(tz)
    before = (transition - timedelta(minutes=1)).astimezone(zone).utcoffset()
    assert before != transition.astimezone(zone).utcoffset(), "not a transition"
    start, end = transition - timedelta(hours=8), transition + timedelta(hours=8)
    spec = CronSpec(cron, tz)
    got, at = [], start - timedelta(seconds=1)
    while (at := next_tick(spec, at)) is not None and at <= end:  # type: ignore[assignment]
        got.append(at)
    assert got == _reference(cron, tz, start, end)


def test_latest_tick_finds_the_last_tick_before_a_moment() -> None:
    spec = CronSpec("*/15 * * * *", "UTC")
    since = utc(2026, 1, 1)
    assert latest_tick(spec, utc(2026, 1, 3, 10, 7), since) == utc(2026, 1, 3, 10, 0)
    assert latest_tick(spec, utc(2026, 1, 3, 10, 15), since) == utc(2026, 1, 3, 10, 15)
    monthly = CronSpec("0 0 1 * *", "UTC")
    assert latest_tick(monthly, utc(2026, 5, 20), since) == utc(2026, 5, 1)
    assert latest_tick(monthly, utc(2026, 5, 20), utc(2026, 5, 2)) is None


@pytest.mark.parametrize(
    ("scheduled", "now", "expected"),
    [
        # On time or a little late: that tick.
        (utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 1)),
        (utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 1, 40), utc(2026, 1, 1, 0, 1)),
        # Ten ticks missed: only the latest runs.
        (utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 10, 5), utc(2026, 1, 1, 0, 10)),
        # A month offline: still one tick, the latest.
        (utc(2026, 1, 1, 0, 1), utc(2026, 2, 1, 12, 0, 30), utc(2026, 2, 1, 12, 0)),
        # Not due yet.
        (utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 0, 59), None),
    ],
)
def test_catch_up_runs_only_the_latest_missed_tick(
    scheduled: datetime, now: datetime, expected: datetime | None
) -> None:
    assert due_tick(CronSpec("* * * * *", "UTC"), scheduled, now) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("* * * *", "exactly 5 fields"),
        ("* * * * * *", "exactly 5 fields"),
        ("", "5-field"),
        ("61 * * * *", "not a valid cron"),
        ("*/0 * * * *", "not a valid cron"),
        ("a b c d e", "not a valid cron"),
        ("0 0 31 2 *", "never matches"),
    ],
)
def test_bad_cron_is_named_with_the_reason(expr: str, message: str) -> None:
    errors: list[FieldError] = []
    assert check_cron(expr, errors) is None
    assert [e.path for e in errors] == ["cron"]
    assert message in errors[0].message


def test_cron_spacing_is_normalised() -> None:
    assert check_cron("  */5   *  * * 1-5 ", []) == "*/5 * * * 1-5"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "Europe/"])
def test_unknown_timezone_is_named(name: str) -> None:
    errors: list[FieldError] = []
    assert check_timezone(name, errors) is None
    assert [e.path for e in errors] == ["timezone"]


def test_job_needs_exactly_one_payload_and_no_run_owned_fields() -> None:
    errors, _, kind = check_job_fields("n", "* * * * *", "UTC", None, None)
    assert [e.path for e in errors] == ["message"] and kind is None
    errors, _, _ = check_job_fields("n", "* * * * *", "UTC", {}, {})
    assert [e.path for e in errors] == ["message"]
    errors, cron, kind = check_job_fields(
        " ", "* * * * *", "UTC", {"idempotencyKey": "k", "scheduledAt": "x"}, None
    )
    assert [e.path for e in errors] == ["name", "message.idempotencyKey", "message.scheduledAt"]
    assert (cron, kind) == ("* * * * *", "message")


def test_tick_key_names_job_and_tick() -> None:
    assert tick_key("j1", "2026-01-01T00:01:00.000Z") == "sched:j1:2026-01-01T00:01:00.000Z"
