"""Scheduled sends and cancellation on the real clock: `scheduledAt` holds a
message until its time, `cancel` stops what has not started (409 once sending began), a
restart in between changes nothing, and a large schedule falling due does not stall the API."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.workflows.conftest import Env, batch_body
from tests.support.problems import assert_problem
from tests.support.waiting import wait_until

# A schedule this big falling due at once (the in-process SMTP sink takes ~200/s).
BACKLOG = 1500


def ahead(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def types(message: dict[str, Any]) -> list[str]:
    return [e["type"] for e in message["events"]]


def delivered(env: Env) -> dict[str, int]:
    return env.sink.by_iep_id()


async def test_message_scheduled_two_seconds_ahead_is_sent_after_its_time_not_before(
    env: Env,
) -> None:
    resp = await env.http.post("/v1/messages", json={**_message(), "scheduledAt": ahead(2)})
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "scheduled"
    message_id = resp.json()["messageId"]
    held = await env.message(message_id)
    assert held["status"] == "scheduled" and env.sink.received == []
    scheduled_at = parse(held["scheduledAt"])

    await wait_until(lambda: message_id in delivered(env), timeout=15, message="sent")
    final = await env.settled(message_id)
    assert final["status"] == "sent"
    assert types(final) == ["scheduled", "queued", "processing", "sent"]
    queued_at = parse(final["events"][1]["timestamp"])
    assert queued_at >= scheduled_at, "claimed before its time"
    assert parse(final["sentAt"]) >= scheduled_at


async def test_cancelled_message_is_never_sent_and_a_restart_changes_nothing(env: Env) -> None:
    when = ahead(2)
    keep = await env.send(scheduledAt=when, to=["keep@example.org"])
    drop = await env.send(scheduledAt=when, to=["drop@example.org"])
    cancelled = await env.http.post(f"/v1/messages/{drop}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() == {"messageId": drop, "status": "cancelled"}
    again = await env.http.post(f"/v1/messages/{drop}/cancel")
    assert again.status_code == 200, "cancelling twice is harmless"

    await env.restart()  # same database, new runtime: the schedule survives, the cancel too

    await wait_until(lambda: keep in delivered(env), timeout=15, message="kept message sent")
    assert (await env.settled(keep))["status"] == "sent"
    dropped = await env.message(drop)
    assert dropped["status"] == "cancelled"
    assert types(dropped) == ["scheduled", "cancelled"]
    assert drop not in delivered(env) and len(env.sink.received) == 1


async def test_cancel_once_sending_began_is_409(env: Env) -> None:
    env.sink.set_delay(3)  # the first message stays in flight (leased) for a while
    slow = await env.send(to=["slow@example.org"])

    async def processing() -> bool:
        return (await env.message(slow))["status"] == "processing"

    await wait_until(processing, timeout=10)
    body = assert_problem(await env.http.post(f"/v1/messages/{slow}/cancel"), 409)
    assert body["messageStatus"] == "processing"
    env.sink.set_delay(0)
    assert (await env.settled(slow))["status"] == "sent"
    body = assert_problem(await env.http.post(f"/v1/messages/{slow}/cancel"), 409)
    assert body["messageStatus"] == "sent"
    assert_problem(await env.http.post("/v1/messages/no-such-id/cancel"), 404)


async def test_batch_cancel_cancels_every_message_not_yet_started(env: Env) -> None:
    recipients = [{"to": [f"u{i}@example.org"]} for i in range(50)]
    resp = await env.http.post(
        "/v1/messages/batch", json=batch_body(recipients, scheduledAt=ahead(3600))
    )
    assert resp.status_code == 202, resp.text
    batch_id = resp.json()["batchId"]
    progress = (await env.http.get(f"/v1/batches/{batch_id}")).json()
    assert progress["counts"] == {"scheduled": 50}

    cancelled = await env.http.post(f"/v1/batches/{batch_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() == {
        "batchId": batch_id,
        "status": "cancelled",
        "cancelled": 50,
        "counts": {"cancelled": 50},
    }
    again = (await env.http.post(f"/v1/batches/{batch_id}/cancel")).json()
    assert again["cancelled"] == 0 and again["counts"] == {"cancelled": 50}
    page = (await env.http.get(f"/v1/batches/{batch_id}/messages", params={"limit": 1})).json()
    one = await env.message(page["data"][0]["messageId"])
    assert types(one) == ["scheduled", "cancelled"]


async def test_scheduled_at_in_the_past_or_beyond_a_year_is_422(env: Env) -> None:
    for when in (ahead(-60), ahead(400 * 86400), "tomorrow", "2030-01-01T00:00:00"):
        resp = await env.http.post("/v1/messages", json={**_message(), "scheduledAt": when})
        assert_problem(resp, 422, "scheduledAt")
        batch = batch_body([{"to": ["a@example.org"]}], scheduledAt=when)
        assert_problem(await env.http.post("/v1/messages/batch", json=batch), 422, "scheduledAt")


async def test_api_answers_while_a_1500_message_schedule_falls_due_at_once(env: Env) -> None:
    recipients = [{"to": [f"u{i}@example.org"]} for i in range(BACKLOG)]
    resp = await env.http.post(
        "/v1/messages/batch", json=batch_body(recipients, scheduledAt=ahead(1))
    )
    assert resp.status_code == 202, resp.text

    await wait_until(lambda: len(env.sink.received) > 0, timeout=15, message="draining")
    answered_while_draining = 0
    for _ in range(50):
        count = len(env.sink.received)
        if count >= BACKLOG:
            break
        # Generous: the point is that the API answers at all while the backlog drains.
        health = await asyncio.wait_for(env.http.get("/health"), timeout=5)
        assert health.status_code == 200
        listed = await asyncio.wait_for(env.http.get("/v1/messages?limit=5"), timeout=5)
        assert listed.status_code == 200
        if len(env.sink.received) < BACKLOG:
            answered_while_draining += 1
    assert answered_while_draining > 0, "the backlog drained before the API was asked"
    await wait_until(lambda: len(env.sink.received) == BACKLOG, timeout=60, message="all sent")


def _message() -> dict[str, Any]:
    return {
        "to": ["ada@example.org"],
        "from": {"email": "noreply@example.com"},
        "subject": "Hello {{name}}",
        "htmlBody": "<p>Hello {{name}}</p>",
        "variables": {"name": "Ada"},
    }
