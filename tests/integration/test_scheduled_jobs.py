"""Recurring sends (/v1/scheduled-jobs) over a real Runtime on a SQLite file,
with a FakeClock: each tick creates its messages exactly once, across restarts and missed
ticks (only the latest missed tick runs), payloads are validated like real sends, and another
tenant's job is a 404. `rt.services.ticker.run_due()` runs what is due at the clock's now; the
ticker task runs too, and the assertions hold whichever gets there first.
"""

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from iep_appliance.clock import FakeClock
from iep_appliance.services.ticker import Ticker
from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.problems import assert_problem
from tests.support.waiting import wait_until

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def appliance(tmp_path: Path) -> AsyncIterator[Appliance]:
    app = Appliance(tmp_path)
    app.clock = FakeClock(START)
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
async def acme(appliance: Appliance) -> TenantKey:
    await appliance.start(deliver=False)
    return await appliance.tenant("acme")


def job_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "digest",
        "cron": "* * * * *",
        "timezone": "UTC",
        "message": message(subject="Digest {{name}}", metadata={"category": "digest"}),
    }
    body.update(overrides)
    return body


async def create(appliance: Appliance, who: TenantKey, **overrides: Any) -> dict[str, Any]:
    resp = await appliance.client.post(
        "/v1/scheduled-jobs", json=job_body(**overrides), headers=who.auth
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def runs(appliance: Appliance, who: TenantKey, job_id: str) -> list[dict[str, Any]]:
    resp = await appliance.client.get(f"/v1/scheduled-jobs/{job_id}/runs", headers=who.auth)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


async def job(appliance: Appliance, who: TenantKey, job_id: str) -> dict[str, Any]:
    resp = await appliance.client.get(f"/v1/scheduled-jobs/{job_id}", headers=who.auth)
    assert resp.status_code == 200, resp.text
    return resp.json()


def rows(appliance: Appliance, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(appliance.config.storage.path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def advance(appliance: Appliance, seconds: float) -> None:
    clock = appliance.clock
    assert isinstance(clock, FakeClock)
    clock.advance(seconds)


async def test_create_answers_the_documented_shape(appliance: Appliance, acme: TenantKey) -> None:
    created = await create(appliance, acme)
    assert created["id"] and created["name"] == "digest"
    assert (created["cron"], created["timezone"], created["active"]) == ("* * * * *", "UTC", True)
    assert created["message"]["subject"] == "Digest {{name}}"
    assert "batch" not in created
    assert created["lastRunAt"] is None
    assert created["nextRunAt"] == "2026-01-01T00:01:00.000Z"
    assert await job(appliance, acme, created["id"]) == created
    listed = await appliance.client.get("/v1/scheduled-jobs", headers=acme.auth)
    assert listed.json() == {"data": [created], "nextCursor": None}


async def test_every_minute_cron_creates_one_message_per_tick(
    appliance: Appliance, acme: TenantKey
) -> None:
    created = await create(appliance, acme)
    for minute in (1, 2, 3):
        advance(appliance, 60)
        await appliance.rt.services.ticker.run_due()
        await appliance.rt.services.ticker.run_due()  # the same moment again: nothing more
        done = await runs(appliance, acme, created["id"])
        assert done[0]["tick"] == f"2026-01-01T00:0{minute}:00.000Z"  # newest first
        assert len(done) == minute
    current = await job(appliance, acme, created["id"])
    assert current["lastRunAt"] == "2026-01-01T00:03:00.000Z"
    assert current["nextRunAt"] == "2026-01-01T00:04:00.000Z"
    listed = await appliance.client.get("/v1/messages", headers=acme.auth)
    subjects = [m["subject"] for m in listed.json()["data"]]
    assert subjects == ["Digest {{name}}"] * 3
    keys = rows(appliance, "SELECT idempotency_key FROM messages ORDER BY created_at")
    assert [k for (k,) in keys] == [
        f"sched:{created['id']}:2026-01-01T00:0{m}:00.000Z" for m in (1, 2, 3)
    ]


async def test_no_tick_runs_twice_across_a_restart(appliance: Appliance, acme: TenantKey) -> None:
    created = await create(appliance, acme)
    advance(appliance, 60)
    await appliance.rt.services.ticker.run_due()
    assert len(await runs(appliance, acme, created["id"])) == 1
    await appliance.restart()
    await appliance.rt.services.ticker.run_due()
    assert len(await runs(appliance, acme, created["id"])) == 1
    # Even a schedule that did not move (as if the process died before recording it) does
    # not run the tick again: its run record refuses a second row.
    await appliance.stop()
    conn = sqlite3.connect(appliance.config.storage.path)
    conn.execute(
        "UPDATE scheduled_jobs SET next_run_at = '2026-01-01T00:01:00.000Z' WHERE id = ?",
        (created["id"],),
    )
    conn.commit()
    conn.close()
    await appliance.start(deliver=False)
    await appliance.rt.services.ticker.run_due()
    assert len(await runs(appliance, acme, created["id"])) == 1
    assert rows(appliance, "SELECT count(*) FROM messages") == [(1,)]
    assert (await job(appliance, acme, created["id"]))["nextRunAt"] == "2026-01-01T00:02:00.000Z"


async def test_after_downtime_only_the_latest_missed_tick_runs(
    appliance: Appliance, acme: TenantKey
) -> None:
    created = await create(appliance, acme)
    await appliance.stop()
    advance(appliance, 10 * 60 + 5)  # ten ticks missed while down
    await appliance.start(deliver=False)
    await appliance.rt.services.ticker.run_due()
    done = await runs(appliance, acme, created["id"])
    assert [r["tick"] for r in done] == ["2026-01-01T00:10:00.000Z"]
    current = await job(appliance, acme, created["id"])
    assert current["lastRunAt"] == "2026-01-01T00:10:05.000Z"
    assert current["nextRunAt"] == "2026-01-01T00:11:00.000Z"
    advance(appliance, 55)
    await appliance.rt.services.ticker.run_due()
    assert len(await runs(appliance, acme, created["id"])) == 2


async def test_ticker_task_runs_a_due_tick_when_woken(
    appliance: Appliance, acme: TenantKey
) -> None:
    created = await create(appliance, acme)
    advance(appliance, 60)
    appliance.rt.services.ticker.wake()

    async def ran() -> int:
        return len(await runs(appliance, acme, created["id"]))

    assert await wait_until(ran, timeout=10, message="the ticker task ran the tick") == 1


async def test_run_now_creates_a_run_and_keeps_the_schedule(
    appliance: Appliance, acme: TenantKey
) -> None:
    created = await create(appliance, acme, active=False)
    assert created["nextRunAt"] is None
    resp = await appliance.client.post(f"/v1/scheduled-jobs/{created['id']}/run", headers=acme.auth)
    assert resp.status_code == 202, resp.text
    run = resp.json()
    assert run["scheduledJobId"] == created["id"] and run["tick"].startswith("manual:")
    assert run["count"] == 1 and run["error"] is None
    detail = await appliance.client.get(f"/v1/messages/{run['messageId']}", headers=acme.auth)
    assert detail.status_code == 200 and detail.json()["status"] == "queued"
    current = await job(appliance, acme, created["id"])
    assert (current["lastRunAt"], current["nextRunAt"]) == ("2026-01-01T00:00:00.000Z", None)
    again = await appliance.client.post(
        f"/v1/scheduled-jobs/{created['id']}/run", headers=acme.auth
    )
    assert again.json()["messageId"] != run["messageId"]
    assert len(await runs(appliance, acme, created["id"])) == 2


async def test_a_run_is_delivered_like_any_message(appliance: Appliance) -> None:
    await appliance.start()  # with delivery, to the built-in outbox
    acme = await appliance.tenant("acme")
    created = await create(appliance, acme)
    advance(appliance, 60)
    await appliance.rt.services.ticker.run_due()
    (run,) = await runs(appliance, acme, created["id"])

    async def status() -> str:
        resp = await appliance.client.get(f"/v1/messages/{run['messageId']}", headers=acme.auth)
        return resp.json()["status"] == "sent" and resp.json()["subject"]

    assert await wait_until(status, timeout=10, message="the run's message was sent") == (
        "Digest Ada"
    )


async def test_timezone_ticks_follow_local_time_across_spring_forward(
    appliance: Appliance,
) -> None:
    appliance.clock = FakeClock(datetime(2026, 3, 7, 12, tzinfo=UTC))
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    created = await create(appliance, acme, cron="30 2 * * *", timezone="America/New_York")
    # 02:30 on 2026-03-08 does not exist in New York; it runs at 03:30 EDT.
    assert created["nextRunAt"] == "2026-03-08T07:30:00.000Z"
    advance(appliance, 19.5 * 3600)
    await appliance.rt.services.ticker.run_due()
    assert [r["tick"] for r in await runs(appliance, acme, created["id"])] == [
        "2026-03-08T07:30:00.000Z"
    ]
    assert (await job(appliance, acme, created["id"]))["nextRunAt"] == "2026-03-09T06:30:00.000Z"


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"cron": "* * * *"}, ["cron"]),
        ({"cron": "61 * * * *"}, ["cron"]),
        ({"timezone": "Mars/Olympus"}, ["timezone"]),
        ({"name": ""}, ["name"]),
        ({"message": message(to=["not an address"])}, ["message.to[0]"]),
        ({"message": message(to=[])}, ["message.to"]),
        ({"message": message(subject="Hi {{#if}}")}, ["message.subject"]),
        ({"message": message(idempotencyKey="k")}, ["message.idempotencyKey"]),
        ({"message": message(queue="nope")}, ["message.queue"]),
        (
            {"message": {"to": ["a@example.org"], "from": "noreply@example.com"}},
            ["message.subject"],
        ),
        ({"message": {**message(), "colour": "red"}}, ["message.colour"]),
        ({"message": None}, ["message"]),
        ({"batch": {"subject": "x"}}, ["message"]),
        ({"cron": "bad", "timezone": "bad", "message": message(to=["x"])}, ["cron", "timezone"]),
    ],
)
async def test_invalid_job_is_422_naming_each_field(
    appliance: Appliance, acme: TenantKey, overrides: dict[str, Any], fields: list[str]
) -> None:
    resp = await appliance.client.post(
        "/v1/scheduled-jobs", json=job_body(**overrides), headers=acme.auth
    )
    assert_problem(resp, 422, *fields)
    assert rows(appliance, "SELECT count(*) FROM scheduled_jobs") == [(0,)]


async def test_sender_domain_is_checked_like_a_real_send(
    appliance: Appliance, acme: TenantKey
) -> None:
    body = job_body(message=message(**{"from": {"email": "x@elsewhere.org"}}))
    resp = await appliance.client.post("/v1/scheduled-jobs", json=body, headers=acme.auth)
    assert_problem(resp, 403, "message.from.email")


async def test_batch_payload_is_validated_with_its_index(
    appliance: Appliance, acme: TenantKey
) -> None:
    shared = {k: v for k, v in message().items() if k not in ("to", "variables")}
    bad = {**shared, "recipients": [{"to": ["a@example.org"]}, {"to": ["broken"]}]}
    resp = await appliance.client.post(
        "/v1/scheduled-jobs", json=job_body(message=None, batch=bad), headers=acme.auth
    )
    assert_problem(resp, 422, "batch.recipients[1].to[0]")


async def test_batch_payload_creates_one_batch_per_tick(
    appliance: Appliance, acme: TenantKey
) -> None:
    shared = {k: v for k, v in message().items() if k not in ("to", "variables")}
    batch = {
        **shared,
        "recipients": [
            {"to": ["a@example.org"], "variables": {"name": "A"}},
            {"to": ["b@example.org"], "variables": {"name": "B"}},
        ],
    }
    created = await create(appliance, acme, message=None, batch=batch)
    assert created["batch"]["recipients"][1]["to"] == ["b@example.org"]
    advance(appliance, 60)
    await appliance.rt.services.ticker.run_due()
    await appliance.restart()
    await appliance.rt.services.ticker.run_due()
    (run,) = await runs(appliance, acme, created["id"])
    assert run["count"] == 2 and run["batchId"]
    progress = await appliance.client.get(f"/v1/batches/{run['batchId']}", headers=acme.auth)
    assert progress.json()["count"] == 2
    assert rows(appliance, "SELECT count(*) FROM messages") == [(2,)]


async def test_a_tick_whose_payload_is_now_rejected_is_recorded_and_skipped(
    appliance: Appliance, acme: TenantKey
) -> None:
    created = await create(appliance, acme)
    await appliance.rt.services.store.remove_domain(acme.tenant_id, "example.com")
    appliance.rt.services.messages.invalidate(acme.tenant_id)
    advance(appliance, 60)
    await appliance.rt.services.ticker.run_due()
    (run,) = await runs(appliance, acme, created["id"])
    assert run["messageId"] is None and "message.from.email" in run["error"]
    assert (await job(appliance, acme, created["id"]))["nextRunAt"] == "2026-01-01T00:02:00.000Z"
    assert rows(appliance, "SELECT count(*) FROM messages") == [(0,)]


async def test_patch_changes_the_schedule_and_pausing_stops_runs(
    appliance: Appliance, acme: TenantKey
) -> None:
    created = await create(appliance, acme)
    url = f"/v1/scheduled-jobs/{created['id']}"
    resp = await appliance.client.patch(
        url, json={"cron": "0 9 * * *", "timezone": "Europe/Berlin"}, headers=acme.auth
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["nextRunAt"] == "2026-01-01T08:00:00.000Z"
    assert resp.json()["message"] == created["message"]
    bad = await appliance.client.patch(url, json={"cron": "nope"}, headers=acme.auth)
    assert_problem(bad, 422, "cron")
    paused = await appliance.client.patch(url, json={"active": False}, headers=acme.auth)
    assert (paused.json()["active"], paused.json()["nextRunAt"]) == (False, None)
    advance(appliance, 9 * 3600)
    await appliance.rt.services.ticker.run_due()
    assert await runs(appliance, acme, created["id"]) == []
    resumed = await appliance.client.patch(url, json={"active": True}, headers=acme.auth)
    assert resumed.json()["nextRunAt"] == "2026-01-02T08:00:00.000Z"  # nothing caught up
    subject = await appliance.client.patch(
        url, json={"message": message(subject="New")}, headers=acme.auth
    )
    assert subject.json()["message"]["subject"] == "New"


async def test_delete_removes_the_job_and_its_schedule(
    appliance: Appliance, acme: TenantKey
) -> None:
    created = await create(appliance, acme)
    url = f"/v1/scheduled-jobs/{created['id']}"
    assert (await appliance.client.delete(url, headers=acme.auth)).status_code == 204
    assert_problem(await appliance.client.get(url, headers=acme.auth), 404)
    advance(appliance, 60)
    await appliance.rt.services.ticker.run_due()
    assert rows(appliance, "SELECT count(*) FROM messages") == [(0,)]


async def test_another_tenants_job_is_404(appliance: Appliance, acme: TenantKey) -> None:
    created = await create(appliance, acme)
    globex = await appliance.tenant("globex")
    url = f"/v1/scheduled-jobs/{created['id']}"
    for method, path, body in [
        ("GET", url, None),
        ("PATCH", url, {"name": "mine"}),
        ("DELETE", url, None),
        ("POST", f"{url}/run", None),
        ("GET", f"{url}/runs", None),
    ]:
        resp = await appliance.client.request(method, path, json=body, headers=globex.auth)
        assert_problem(resp, 404)
    listed = await appliance.client.get("/v1/scheduled-jobs", headers=globex.auth)
    assert listed.json()["data"] == []
    assert (await job(appliance, acme, created["id"]))["name"] == "digest"


async def test_scheduled_jobs_need_the_admin_scope(appliance: Appliance, acme: TenantKey) -> None:
    sender = await appliance.key(acme, ("send", "read"))
    resp = await appliance.client.post("/v1/scheduled-jobs", json=job_body(), headers=sender.auth)
    assert_problem(resp, 403)


class CrashingRuns:
    """The real scheduled-job service whose `run_tick` raises (a bug somewhere below it)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls = 0

    async def run_tick(self, *args: Any) -> Any:
        self.calls += 1
        raise RecursionError("maximum recursion depth exceeded")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


async def test_a_tick_whose_run_raises_is_recorded_as_failed_not_retried_for_ever(
    appliance: Appliance, acme: TenantKey
) -> None:
    """§10.1: on main the tick stayed due and the ticker retried it every second, for ever."""
    created = await create(appliance, acme)
    service = CrashingRuns(appliance.rt.services.ticker.service)
    ticker = Ticker(service, appliance.rt.services.store, appliance.rt.services.clock)  # type: ignore[arg-type]
    advance(appliance, 60)
    await ticker.run_due()
    await ticker.run_due()  # the same moment again: the crashed tick is spent, not retried
    assert service.calls == 1
    (run,) = await runs(appliance, acme, created["id"])
    assert run["tick"] == "2026-01-01T00:01:00.000Z"
    assert run["messageId"] is None
    assert run["error"] == "crashed: RecursionError: maximum recursion depth exceeded"
    assert (await job(appliance, acme, created["id"]))["nextRunAt"] == "2026-01-01T00:02:00.000Z"
