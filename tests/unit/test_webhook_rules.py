"""Pure webhook rules (`domain/webhooks.py`): events, body, secrets, webhook-id, retries."""

import json

import pytest

from iep_appliance.domain.errors import ValidationFailed
from iep_appliance.domain.webhooks import (
    WebhookEndpoint,
    WebhookEvent,
    body_for,
    decode_event,
    delivery_status,
    next_step,
    normalize_events,
    signing_secrets,
    webhook_id_for,
)

EVENT = WebhookEvent(
    event="message.sent",
    message_id="m1",
    endpoint_id="e1",
    timestamp="2026-01-01T00:00:00.000Z",
    data={"to": ["a@x.org"], "subject": "Hi", "provider": "outbox", "attempts": 1},
)


def endpoint(**kw: object) -> WebhookEndpoint:
    base: dict[str, object] = {
        "id": "e1",
        "tenant_id": "t1",
        "url": "https://hooks.example.com/",
        "events": ("message.sent",),
        "secret": "whsec_new",
        "old_secret": None,
        "old_secret_until": None,
        "active": True,
        "disabled_reason": None,
        "failing_since": None,
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
    }
    base.update(kw)
    return WebhookEndpoint(**base)  # type: ignore[arg-type]


def test_event_names_take_short_forms_and_drop_duplicates() -> None:
    assert normalize_events(["sent", "message.failed", "SENT", " bounced "]) == (
        "message.sent",
        "message.failed",
        "message.bounced",
    )


def test_unknown_event_is_named_by_its_index() -> None:
    with pytest.raises(ValidationFailed) as info:
        normalize_events(["message.sent", "message.teleported", "exploded"])  # opened exists now
    assert [e.path for e in info.value.errors] == ["events[1]", "events[2]"]


def test_no_events_is_refused() -> None:
    with pytest.raises(ValidationFailed) as info:
        normalize_events([])
    assert [e.path for e in info.value.errors] == ["events"]


def test_body_has_the_design_shape() -> None:
    assert json.loads(body_for("t1", EVENT)) == {
        "event": "message.sent",
        "messageId": "m1",
        "tenantId": "t1",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "data": {"to": ["a@x.org"], "subject": "Hi", "provider": "outbox", "attempts": 1},
    }


def test_sandbox_event_body_says_sandbox_true() -> None:
    ev = WebhookEvent(event="message.sent", message_id="m1", data={"sandbox": True})
    assert json.loads(body_for("t1", ev))["sandbox"] is True


def test_webhook_id_is_stable_for_a_job_and_differs_between_jobs() -> None:
    first = webhook_id_for(7, "t1", EVENT)
    assert first == webhook_id_for(7, "t1", EVENT)
    assert first != webhook_id_for(8, "t1", EVENT)
    assert first.startswith("evt_")


def test_resent_event_keeps_the_webhook_id_it_carries() -> None:
    ev = decode_event(json.dumps({"event": "message.sent", "webhookId": "evt_orig"}))
    assert webhook_id_for(99, "t1", ev) == "evt_orig"


@pytest.mark.parametrize("payload", [None, "", "not json", '{"data": {}}'])
def test_bad_job_payload_is_a_value_error(payload: str | None) -> None:
    with pytest.raises(ValueError):
        decode_event(payload)


def test_old_secret_signs_only_until_its_grace_ends() -> None:
    rotated = endpoint(old_secret="whsec_old", old_secret_until="2026-01-01T00:10:00.000Z")
    assert signing_secrets(rotated, "2026-01-01T00:09:59.999Z") == ["whsec_new", "whsec_old"]
    assert signing_secrets(rotated, "2026-01-01T00:10:00.000Z") == ["whsec_new"]
    assert signing_secrets(endpoint(), "2026-01-01T00:00:00.000Z") == ["whsec_new"]


@pytest.mark.parametrize(
    ("status", "attempt", "expected"),
    [
        (200, 1, ("delivered", 0)),
        (204, 3, ("delivered", 0)),
        (500, 1, ("retrying", 10)),
        (None, 2, ("retrying", 60)),  # timeout or network error
        (302, 3, ("retrying", 300)),  # redirects are not followed
        (410, 4, ("failed", 0)),  # schedule of 3 → 4 attempts
        (None, 4, ("failed", 0)),
    ],
)
def test_next_step_follows_the_retry_schedule(
    status: int | None, attempt: int, expected: tuple[str, int]
) -> None:
    assert next_step(status, attempt, (10, 60, 300)) == expected


def test_empty_schedule_means_one_attempt() -> None:
    assert next_step(500, 1, ()) == ("failed", 0)


@pytest.mark.parametrize(
    ("status", "next_retry_at", "expected"),
    [
        (200, None, "delivered"),
        (500, "2026-01-01T00:00:10.000Z", "retrying"),
        (None, None, "failed"),
    ],
)
def test_delivery_status(status: int | None, next_retry_at: str | None, expected: str) -> None:
    assert delivery_status(status, next_retry_at) == expected
