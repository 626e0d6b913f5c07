"""domain/dashboard.py and the preview's image blocking: pure rules of the operator views."""

import pytest

from iep_appliance.domain.dashboard import Attempt, attempts_of
from iep_appliance.domain.models import Event
from iep_appliance.domain.preview import sanitize_counting
from iep_appliance.domain.search import MessageSearch


def ev(type_: str, at: str, **data: object) -> Event:
    return Event(type=type_, timestamp=at, data=data)


def test_each_processing_event_opens_an_attempt_that_its_outcome_closes() -> None:
    events = (
        ev("queued", "t0"),
        ev("processing", "t1"),
        ev("retry_scheduled", "t2", provider="relay", error="451 busy"),
        ev("processing", "t3"),
        ev("sent", "t4", provider="outbox"),
    )

    assert attempts_of(events) == [
        Attempt(1, "t1", "t2", "retry_scheduled", "relay", "451 busy"),
        Attempt(2, "t3", "t4", "sent", "outbox", None),
    ]


def test_an_attempt_without_an_outcome_is_still_in_flight() -> None:
    events = (ev("processing", "t1"), ev("processing", "t2"))

    assert attempts_of(events) == [
        Attempt(1, "t1", None, None, None, None),
        Attempt(2, "t2", None, None, None, None),
    ]


def test_a_failure_before_any_attempt_is_no_attempt() -> None:
    assert attempts_of((ev("queued", "t0"), ev("failed", "t1", error="bad template"))) == []


@pytest.mark.parametrize(
    ("f", "residual"),
    [
        (MessageSearch(), False),
        (MessageSearch(tenant_id="t", status="sent", created_from="x"), False),
        (MessageSearch(recipient="a"), True),
        (MessageSearch(tag="b"), True),
        (MessageSearch(queue="q"), True),
    ],
)
def test_only_filters_without_an_index_scan_a_window(f: MessageSearch, residual: bool) -> None:
    assert f.has_residual is residual


def test_remote_images_are_dropped_and_counted_unless_allowed() -> None:
    html = (
        '<img src="https://t.example/p.gif" onerror="x()"><img src="HTTP://cdn/a.png">'
        '<img srcset="https://a 1x"><p>hi</p>'
    )

    blocked, n = sanitize_counting(html, remote_images=False)
    allowed, m = sanitize_counting(html, remote_images=True)

    assert (
        n == 2
        and "srcset" not in blocked
        and "t.example" not in blocked
        and "cdn" not in blocked
        and "onerror" not in blocked
    )
    assert m == 0 and 'src="https://t.example/p.gif"' in allowed and "onerror" not in allowed
