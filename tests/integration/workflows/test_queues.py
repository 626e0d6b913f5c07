"""Named queues: the admin API and its shape, pause/resume/drain, the
priority policy (higher first, lower never starved: domain/queues.py), the per-queue rate
limit and retry schedule. Order and content are read at the SMTP sink."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from iep_appliance.clock import FakeClock
from tests.integration.workflows.conftest import Env, batch_body
from tests.support.problems import assert_problem
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until

SHAPE = {"id", "name", "priority", "ratePerMinute", "retrySchedule", "state"}


def arrived(env: Env, prefix: str) -> int:
    return sum(1 for r in env.sink.received if r.rcpt_tos[0].startswith(prefix))


async def test_default_queue_is_listed_and_queues_have_the_design_shape(env: Env) -> None:
    listed = (await env.http.get("/v1/queues")).json()
    assert listed["nextCursor"] is None
    [default] = listed["data"]
    assert set(default) == SHAPE
    assert default | {"id": None} == {
        "id": None,
        "name": "default",
        "priority": 5,
        "ratePerMinute": None,
        "retrySchedule": None,
        "state": "active",
    }
    created = await env.queue("newsletter", priority=2, ratePerMinute=600, retrySchedule=[5, 60])
    assert set(created) == SHAPE
    assert created["retrySchedule"] == [5, 60] and created["state"] == "active"
    got = (await env.http.get(f"/v1/queues/{created['id']}")).json()
    assert got == created
    names = [q["name"] for q in (await env.http.get("/v1/queues")).json()["data"]]
    assert names == ["default", "newsletter"]
    page = (await env.http.get("/v1/queues", params={"limit": 1})).json()
    assert [q["name"] for q in page["data"]] == ["default"] and page["nextCursor"]
    rest = (await env.http.get("/v1/queues", params={"cursor": page["nextCursor"]})).json()
    assert [q["name"] for q in rest["data"]] == ["newsletter"]


async def test_queue_changes_are_validated_and_merged(env: Env) -> None:
    q = await env.queue("alerts")
    for body, field in [
        ({"name": "alerts"}, None),
        ({"name": "default"}, None),
        ({"name": "bad name"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "priority": 0}, "priority"),
        ({"name": "x", "priority": 11}, "priority"),
        ({"name": "x", "priority": "high"}, "priority"),
        ({"name": "x", "ratePerMinute": 0}, "ratePerMinute"),
        ({"name": "x", "retrySchedule": [0]}, "retrySchedule[0]"),
        ({"name": "x", "colour": "red"}, "colour"),
    ]:
        resp = await env.http.post("/v1/queues", json=body)
        if field is None:
            assert_problem(resp, 409)
        else:
            assert_problem(resp, 422, field)
    path = f"/v1/queues/{q['id']}"
    patched = (await env.http.patch(path, json={"priority": 9, "ratePerMinute": 120})).json()
    assert (patched["priority"], patched["ratePerMinute"], patched["name"]) == (9, 120, "alerts")
    cleared = (await env.http.patch(path, json={"ratePerMinute": None})).json()
    assert cleared["ratePerMinute"] is None and cleared["priority"] == 9
    assert_problem(await env.http.patch(path, json={"priority": 42}), 422, "priority")
    assert_problem(await env.http.patch(path, json={"name": "renamed"}), 422, "name")


async def test_sends_name_a_queue_and_an_unknown_one_is_422(env: Env) -> None:
    await env.queue("receipts")
    message_id = await env.send(queue="receipts")
    assert (await env.settled(message_id))["status"] == "sent"
    resp = await env.http.post("/v1/messages", json=_message(queue="nope"))
    assert_problem(resp, 422, "queue")
    default_id = await env.send()
    assert (await env.message(default_id))["queue"] == "default"


async def test_paused_queue_accepts_but_sends_nothing_until_resumed(env: Env) -> None:
    q = await env.queue("hold")
    paused = await env.http.post(f"/v1/queues/{q['id']}/pause")
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    held = [await env.send(queue="hold", to=[f"held{i}@example.org"]) for i in range(5)]
    other = await env.send(to=["other@example.org"])
    assert (await env.settled(other))["status"] == "sent"  # the engine is running

    stats = (await env.http.get(f"/v1/queues/{q['id']}/stats")).json()
    assert stats["depth"] == {"ready": 0, "delayed": 0, "leased": 0, "paused": 5}
    assert stats["state"] == "paused" and stats["oldestAgeSeconds"] is not None
    assert arrived(env, "held") == 0
    assert {(await env.message(m))["status"] for m in held} == {"queued"}

    resumed = await env.http.post(f"/v1/queues/{q['id']}/resume")
    assert resumed.json()["state"] == "active"
    await wait_until(lambda: arrived(env, "held") == 5, timeout=15, message="held ones sent")

    async def sent_last_hour() -> bool:
        s = (await env.http.get(f"/v1/queues/{q['id']}/stats")).json()
        return s["sentLastHour"] == 5 and s["depth"] == dict.fromkeys(s["depth"], 0)

    await wait_until(sent_last_hour, timeout=10)


async def test_draining_queue_rejects_new_sends_and_finishes_the_rest(env: Env) -> None:
    q = await env.queue("closing")
    earlier = _message(queue="closing", idempotencyKey="before-the-drain")
    first = await env.http.post("/v1/messages", json=earlier)
    assert first.status_code == 202, first.text
    await env.http.post(f"/v1/queues/{q['id']}/pause")
    waiting = [await env.send(queue="closing", to=[f"w{i}@example.org"]) for i in range(3)]
    drained = await env.http.post(f"/v1/queues/{q['id']}/drain")
    assert drained.json()["state"] == "draining"
    rejected = await env.http.post("/v1/messages", json=_message(queue="closing"))
    problem = assert_problem(rejected, 409)
    assert problem["queue"] == "closing" and "draining" in problem["detail"]
    batch = batch_body([{"to": ["b@example.org"]}], queue="closing")
    assert_problem(await env.http.post("/v1/messages/batch", json=batch), 409)
    replay = await env.http.post("/v1/messages", json=earlier)
    assert replay.status_code == 200, "a replay is not a new send"
    assert replay.json()["messageId"] == first.json()["messageId"]
    for message_id in waiting:
        assert (await env.settled(message_id))["status"] == "sent"
    await env.http.post(f"/v1/queues/{q['id']}/resume")
    assert (await env.http.post("/v1/messages", json=_message(queue="closing"))).status_code == 202


async def test_high_priority_queue_goes_first_under_backlog_while_low_still_progresses(
    env: Env,
) -> None:
    await env.queue("high", priority=10)
    await env.queue("low", priority=1)
    when = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()  # both fall due at once
    n = 300
    for name in ("low", "high"):  # low first: it is older, and still must wait its turn
        recipients = [{"to": [f"{name}{i}@example.org"]} for i in range(n)]
        body = batch_body(recipients, queue=name, scheduledAt=when)
        assert (await env.http.post("/v1/messages/batch", json=body)).status_code == 202

    await wait_until(lambda: len(env.sink.received) == 2 * n, timeout=60, message="all sent")
    order = [r.rcpt_tos[0] for r in env.sink.received]
    first_half = order[:n]
    low_early = sum(1 for r in first_half if r.startswith("low"))
    assert low_early <= n // 3, f"high did not go first: {low_early} low in the first {n}"
    assert low_early >= 1, "low starved while high had a backlog"
    last_high = max(i for i, r in enumerate(order) if r.startswith("high"))
    first_low = min(i for i, r in enumerate(order) if r.startswith("low"))
    assert first_low < last_high, "low made no progress until high was empty"


async def test_queue_retry_schedule_overrides_the_servers(env: Env) -> None:
    await env.queue("once", retrySchedule=[1])
    refusal = "451 4.3.0 try again later"
    env.sink.script_rcpt("q@example.org", refusal, refusal, refusal)
    env.sink.script_rcpt("d@example.org", refusal, refusal, refusal)
    in_queue = await env.send(queue="once", to=["q@example.org"])
    in_default = await env.send(to=["d@example.org"])  # [delivery] retry_schedule = [1, 1]
    q, d = await env.settled(in_queue), await env.settled(in_default)
    assert (q["status"], q["attempts"]) == ("failed", 2)
    assert (d["status"], d["attempts"]) == ("failed", 3)
    assert [e["type"] for e in q["events"]].count("retry_scheduled") == 1


async def test_delete_refuses_default_and_unfinished_queues(env: Env) -> None:
    default = (await env.http.get("/v1/queues")).json()["data"][0]
    assert_problem(await env.http.delete(f"/v1/queues/{default['id']}"), 409)
    busy = await env.queue("busy")
    await env.http.post(f"/v1/queues/{busy['id']}/pause")
    await env.send(queue="busy")
    assert_problem(await env.http.delete(f"/v1/queues/{busy['id']}"), 409)
    empty = await env.queue("empty")
    assert (await env.http.delete(f"/v1/queues/{empty['id']}")).status_code == 204
    assert_problem(await env.http.get(f"/v1/queues/{empty['id']}"), 404)
    assert_problem(await env.http.post("/v1/messages", json=_message(queue="empty")), 422, "queue")


async def test_another_tenants_queue_is_404_and_queues_need_admin(env: Env) -> None:
    q = await env.queue("mine")
    other = {"x-api-key": await env.tenant("other")}
    for method, path, body in [
        ("GET", f"/v1/queues/{q['id']}", None),
        ("PATCH", f"/v1/queues/{q['id']}", {"priority": 1}),
        ("DELETE", f"/v1/queues/{q['id']}", None),
        ("POST", f"/v1/queues/{q['id']}/pause", None),
        ("POST", f"/v1/queues/{q['id']}/resume", None),
        ("POST", f"/v1/queues/{q['id']}/drain", None),
        ("GET", f"/v1/queues/{q['id']}/stats", None),
    ]:
        resp = await env.http.request(method, path, json=body, headers=other)
        assert_problem(resp, 404)
    theirs = (await env.http.get("/v1/queues", headers=other)).json()["data"]
    assert [x["name"] for x in theirs] == ["default"]
    send_read = {"x-api-key": await env.key_for("send,read")}
    assert_problem(await env.http.get("/v1/queues", headers=send_read), 403)
    assert_problem(await env.http.post("/v1/queues", json={"name": "x"}, headers=send_read), 403)
    # another tenant's queue name is not this tenant's queue
    resp = await env.http.post("/v1/messages", json=_message(queue="mine"), headers=other)
    assert_problem(resp, 422, "queue")


# ---- the per-queue rate limit, under a FakeClock -----------------------------------------


@pytest.fixture
async def fake_env(tmp_path: Path, smtp_sink: SmtpSink) -> AsyncIterator[Env]:
    e = Env(tmp_path, smtp_sink, clock=FakeClock(datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)))
    await e.start()
    try:
        yield e
    finally:
        await e.stop()


async def test_queue_rate_limit_sends_its_budget_per_minute_and_the_rest_next_minute(
    fake_env: Env,
) -> None:
    env = fake_env
    clock = env.clock
    assert isinstance(clock, FakeClock)
    q = await env.queue("slow", ratePerMinute=3)
    for i in range(7):
        await env.send(queue="slow", to=[f"slow{i}@example.org"])
    fast = await env.send(to=["fast@example.org"])  # other queues are not held back
    await wait_until(lambda: arrived(env, "slow") == 3 and arrived(env, "fast") == 1, timeout=15)

    async def held(n: int) -> bool:
        stats = (await env.http.get(f"/v1/queues/{q['id']}/stats")).json()
        return stats["depth"]["delayed"] == n and stats["depth"]["ready"] == 0

    await wait_until(lambda: held(4), timeout=10, message="4 held for the next minute")
    assert arrived(env, "slow") == 3
    assert (await env.message(fast))["status"] == "sent"

    clock.advance(60)  # the next minute: 3 more
    env.rt.services.delivery.wake()
    await wait_until(lambda: arrived(env, "slow") == 6, timeout=15)
    await wait_until(lambda: held(1), timeout=10)
    clock.advance(60)
    env.rt.services.delivery.wake()
    await wait_until(lambda: arrived(env, "slow") == 7, timeout=15)


def _message(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "to": ["ada@example.org"],
        "from": {"email": "noreply@example.com"},
        "subject": "Hello",
        "htmlBody": "<p>Hello</p>",
    }
    body.update(overrides)
    return body
