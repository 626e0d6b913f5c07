import pytest

from iep_appliance.domain.breaker import TRIAL_WAIT_SECONDS, Breaker, health_failure
from iep_appliance.domain.outcomes import RecipientRejection, SendOutcome


def breaker(**overrides: float) -> Breaker:
    settings = {
        "error_rate": 0.5,
        "min_requests": 4,
        "window_seconds": 60.0,
        "cooldown_seconds": 30.0,
    }
    settings.update(overrides)
    return Breaker(
        error_rate=settings["error_rate"],
        min_requests=int(settings["min_requests"]),
        window_seconds=settings["window_seconds"],
        cooldown_seconds=settings["cooldown_seconds"],
    )


def record_all(b: Breaker, results: list[bool], start: float = 0.0) -> None:
    for i, ok in enumerate(results):
        b.record(ok, start + i)


def opened() -> Breaker:
    b = breaker()
    record_all(b, [False] * 4)
    assert b.state == "open"
    return b


def test_new_breaker_is_closed_and_allows() -> None:
    b = breaker()
    assert (b.state, b.state_code, b.allow(0.0)) == ("closed", 0, True)


@pytest.mark.parametrize(
    ("results", "state"),
    [
        ([False, False, False], "closed"),  # below min_requests
        ([False, False, False, False], "open"),
        ([True, False, True, False], "open"),  # exactly error_rate
        ([True, True, True, False], "closed"),
        ([True, True, True, True, False, False, False], "closed"),  # 3/7 < 0.5
        ([True, True, True, False, False, False], "open"),  # 3/6 reaches 0.5
    ],
)
def test_opens_when_enough_requests_fail_in_the_window(results: list[bool], state: str) -> None:
    b = breaker()
    record_all(b, results)
    assert b.state == state


def test_outcomes_older_than_the_window_no_longer_count() -> None:
    b = breaker()
    record_all(b, [False, False, False], start=0.0)
    b.record(False, 100.0)  # the first three fell out of the 60 s window
    assert b.state == "closed"


def test_open_breaker_refuses_until_the_cooldown_has_passed() -> None:
    b = opened()
    assert (b.state_code, b.allow(3.0), b.allow(32.9)) == (1, False, False)


def test_after_cooldown_exactly_one_trial_is_allowed() -> None:
    b = opened()
    assert b.allow(33.0) is True
    assert (b.state, b.state_code) == ("half_open", 2)
    assert b.allow(33.1) is False
    assert b.allow(40.0) is False


def test_successful_trial_closes_and_clears_the_window() -> None:
    b = opened()
    b.allow(33.0)
    b.record(True, 34.0)
    assert b.state == "closed"
    record_all(b, [False, False, False], start=35.0)  # old failures are gone
    assert b.state == "closed"


def test_failed_trial_opens_again_with_a_new_cooldown() -> None:
    b = opened()
    b.allow(33.0)
    b.record(False, 34.0)
    assert b.state == "open"
    assert b.allow(63.9) is False
    assert b.allow(64.0) is True


def test_late_results_while_open_are_ignored() -> None:
    b = opened()
    b.record(True, 5.0)
    assert b.state == "open"


@pytest.mark.parametrize(
    "overrides",
    [
        {"error_rate": 0.0},
        {"error_rate": 1.5},
        {"min_requests": 0},
        {"window_seconds": 0.0},
        {"cooldown_seconds": -1.0},
    ],
)
def test_invalid_settings_are_rejected(overrides: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        breaker(**overrides)


# ---- which outcomes count (DESIGN §10.1) ---------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "unhealthy"),
    [
        (SendOutcome("p", accepted=("a@x.org",), code=250), False),
        (SendOutcome("p", stage="network", network_error="Connection refused"), True),
        (SendOutcome("p", stage="timeout", network_error="timed out"), True),
        (SendOutcome("p", stage="connect", code=554, message="no service"), True),
        (SendOutcome("p", stage="auth", code=535, message="bad credentials"), True),
        (SendOutcome("p", stage="mail", code=421, message="closing"), True),
        (SendOutcome("p", stage="rcpt", rejected=(RecipientRejection("a@x", 421, "bye"),)), True),
        (SendOutcome("p", stage="mail", code=550, message="sender refused"), False),
        (SendOutcome("p", stage="mail", code=451, message="greylisted"), False),
        (SendOutcome("p", stage="rcpt", rejected=(RecipientRejection("a@x", 550, "no"),)), False),
        (SendOutcome("p", stage="rcpt", rejected=(RecipientRejection("a@x", 451, "4.2"),)), False),
        (SendOutcome("p", stage="data", code=554, message="content refused"), False),
        (SendOutcome("p", stage="http", code=503), True),
        (SendOutcome("p", stage="http", code=422), False),
    ],
)
def test_only_provider_health_failures_count(outcome: SendOutcome, unhealthy: bool) -> None:
    assert health_failure(outcome) is unhealthy


def test_wait_seconds_is_the_time_until_the_trial() -> None:
    b = opened()  # opened at 3.0 with a 30 s cooldown
    assert b.wait_seconds(10.0) == 23.0
    assert b.allow(33.0) is True  # the trial
    assert b.wait_seconds(33.5) == TRIAL_WAIT_SECONDS  # its result is not known yet
    b.record(True, 34.0)
    assert b.wait_seconds(34.0) == 0.0
