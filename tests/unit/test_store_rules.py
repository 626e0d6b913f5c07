"""The rules the store executes but does not own: when hard bounces suppress an address,
which endpoints get an event and with what payload, and the one message search meaning's
parts that need no database (the cursor codec)."""

import msgspec
import pytest

from iep_appliance.domain.bounces import HARD_BOUNCES_TO_SUPPRESS, suppresses
from iep_appliance.domain.cursors import decode_cursor, decode_pair, encode_cursor
from iep_appliance.domain.errors import ValidationFailed
from iep_appliance.domain.webhooks import (
    WebhookEvent,
    decode_event,
    fan_out,
    message_event_data,
    resend_payload,
    subscribed,
)

NOW = "2026-01-01T00:00:00.000Z"


def test_the_third_hard_bounce_suppresses_at_send_time() -> None:
    assert HARD_BOUNCES_TO_SUPPRESS == 3
    assert [suppresses(n) for n in (1, 2, 3, 4)] == [False, False, True, True]


def test_an_inbound_verdict_brings_its_own_strikes_and_zero_never_suppresses() -> None:
    assert suppresses(1, strikes=1)
    assert not suppresses(99, strikes=0)


@pytest.mark.parametrize(
    ("wanted", "event", "gets"),
    [
        (("message.sent",), "message.sent", True),
        (("sent",), "message.sent", True),  # a bare name stored by an older release
        (("message.failed",), "message.sent", False),
        (("paused",), "tenant.paused", False),
        (("tenant.paused",), "tenant.paused", True),
    ],
)
def test_an_endpoint_gets_the_events_it_subscribed_to(
    wanted: tuple[str, ...], event: str, gets: bool
) -> None:
    assert subscribed(wanted, event) is gets


def test_fan_out_gives_each_subscribed_endpoint_a_payload_the_dispatcher_decodes() -> None:
    jobs = fan_out(
        [("e1", ["message.sent"]), ("e2", ["message.failed"]), ("e3", ["sent"])],
        "message.sent",
        "m1",
        {"to": ["a@example.org"]},
        NOW,
    )

    assert [endpoint for endpoint, _ in jobs] == ["e1", "e3"]
    decoded = decode_event(msgspec.json.encode(jobs[0][1]))
    assert decoded == WebhookEvent(
        event="message.sent",
        message_id="m1",
        endpoint_id="e1",
        timestamp=NOW,
        data={"to": ["a@example.org"]},
    )


def test_a_resent_event_keeps_its_body_and_carries_its_original_webhook_id() -> None:
    [(_, payload)] = fan_out([("e1", ["message.sent"])], "message.sent", "m1", {}, NOW)

    again = resend_payload(payload, "evt_1", "e1")

    assert decode_event(msgspec.json.encode(again)).webhook_id == "evt_1"
    assert {k: v for k, v in again.items() if k != "webhookId"} == payload


def test_message_event_data_marks_sandbox_messages_only() -> None:
    live = message_event_data(["a@x.org"], "Hi", "smtp", 1, False, {"recipient": "a@x.org"})
    sandbox = message_event_data(["a@x.org"], "Hi", None, 0, True, {})

    assert live == {
        "to": ["a@x.org"],
        "subject": "Hi",
        "provider": "smtp",
        "attempts": 1,
        "recipient": "a@x.org",
    }
    assert sandbox["sandbox"] is True


def test_a_cursor_round_trips_and_a_bad_one_names_the_field() -> None:
    cursor = encode_cursor(NOW, "m1")

    assert decode_cursor(cursor) == (NOW, "m1")
    assert decode_pair(cursor) == (NOW, "m1")
    assert decode_pair(None) is None
    for bad in ("%%%", encode_cursor("one"), encode_cursor("a", "b", "c")):
        with pytest.raises(ValidationFailed) as caught:
            decode_cursor(bad)
        assert caught.value.errors[0].path == "cursor"
