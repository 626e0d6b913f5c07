"""Retention: a purge removes finished messages past `storage.retention_days` with
their events, jobs, outbox copy and attachment files, never unfinished work; attachments go
after `storage.attachment_retention_days` while the message stays; a dry run changes nothing;
the housekeeping task purges on its own. Time moves with a FakeClock."""

import base64
import sqlite3
from pathlib import Path
from typing import Any

from iep_appliance.clock import FakeClock
from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.waiting import wait_until

DAY = 86400.0
FAR = "2026-12-01T00:00:00Z"  # a scheduledAt long after the FakeClock's 2026-01-01 start
PDF = {
    "filename": "invoice.pdf",
    "content": base64.b64encode(b"%PDF-1.4 retention test").decode(),
    "contentType": "application/pdf",
}


def clock(app: Appliance) -> FakeClock:
    assert isinstance(app.clock, FakeClock)
    return app.clock


async def send(app: Appliance, key: TenantKey, **overrides: Any) -> str:
    resp = await app.client.post("/v1/messages", json=message(**overrides), headers=key.auth)
    assert resp.status_code == 202, resp.text
    return resp.json()["messageId"]


async def cancelled(app: Appliance, key: TenantKey, **overrides: Any) -> str:
    """A finished message without delivery: scheduled far ahead, then cancelled now."""
    message_id = await send(app, key, scheduledAt=FAR, **overrides)
    resp = await app.client.post(f"/v1/messages/{message_id}/cancel", headers=key.auth)
    assert resp.status_code == 200, resp.text
    return message_id


async def status(app: Appliance, key: TenantKey, message_id: str) -> int:
    return (await app.client.get(f"/v1/messages/{message_id}", headers=key.auth)).status_code


def rows(app: Appliance, sql: str, *args: Any) -> int:
    conn = sqlite3.connect(app.rt.config.storage.path)
    try:
        return conn.execute(sql, args).fetchone()[0]
    finally:
        conn.close()


def files(app: Appliance) -> list[Path]:
    root = Path(app.rt.config.storage.attachments_dir)
    return sorted(p for p in root.rglob("*") if p.is_file())


async def test_purge_removes_a_message_just_outside_the_window_and_keeps_one_just_inside(
    appliance: Appliance,
) -> None:
    await appliance.start(deliver=False)
    key = appliance.admin
    assert key is not None
    outside = await cancelled(appliance, key)
    clock(appliance).advance(60)
    inside = await cancelled(appliance, key)

    clock(appliance).advance(90 * DAY - 30)  # the cutoff falls 30 s after `outside` finished
    counts = await appliance.rt.services.retention.purge()

    assert counts["messages"] == 1
    assert await status(appliance, key, outside) == 404
    assert await status(appliance, key, inside) == 200
    assert rows(appliance, "SELECT count(*) FROM events WHERE message_id = ?", outside) == 0
    assert rows(appliance, "SELECT count(*) FROM jobs WHERE ref_id = ?", outside) == 0
    assert rows(appliance, "SELECT count(*) FROM events WHERE message_id = ?", inside) > 0


async def test_purge_never_removes_queued_or_scheduled_messages(appliance: Appliance) -> None:
    await appliance.start(deliver=False)  # nothing is delivered: accepted work stays queued
    key = appliance.admin
    assert key is not None
    queued = await send(appliance, key)
    scheduled = await send(appliance, key, scheduledAt=FAR)
    finished = await cancelled(appliance, key)

    clock(appliance).advance(400 * DAY)
    counts = await appliance.rt.services.retention.purge()

    assert counts["messages"] == 1
    assert await status(appliance, key, finished) == 404
    assert await status(appliance, key, queued) == 200
    assert await status(appliance, key, scheduled) == 200


async def test_a_purged_sent_message_takes_its_events_jobs_outbox_copy_and_files(
    appliance: Appliance,
) -> None:
    await appliance.start()  # outbox provider delivers
    key = appliance.admin
    assert key is not None
    sent = await send(appliance, key, attachments=[PDF])

    async def is_sent() -> bool:
        resp = await appliance.client.get(f"/v1/messages/{sent}", headers=key.auth)
        return resp.json()["status"] == "sent"

    await wait_until(is_sent, message="message never sent")
    assert len(files(appliance)) == 1
    assert rows(appliance, "SELECT count(*) FROM outbox WHERE message_id = ?", sent) == 1

    clock(appliance).advance(91 * DAY)
    counts = await appliance.rt.services.retention.purge()

    assert counts["messages"] == 1
    assert counts["outbox"] == 1
    assert counts["attachment_files"] == 1
    assert counts["events"] >= 3  # queued, processing, sent
    assert await status(appliance, key, sent) == 404
    assert files(appliance) == []
    for table, column in [("events", "message_id"), ("jobs", "ref_id"), ("outbox", "message_id")]:
        assert rows(appliance, f"SELECT count(*) FROM {table} WHERE {column} = ?", sent) == 0
    assert rows(appliance, "SELECT count(*) FROM attachments") == 0


async def test_old_attachments_of_finished_messages_go_while_the_message_stays(
    appliance: Appliance,
) -> None:
    await appliance.start(deliver=False)
    key = appliance.admin
    assert key is not None
    finished = await cancelled(appliance, key, attachments=[PDF])
    waiting = await send(appliance, key, scheduledAt=FAR, attachments=[PDF])
    assert len(files(appliance)) == 2

    clock(appliance).advance(30 * DAY - 60)
    assert (await appliance.rt.services.retention.purge())["attachments"] == 0  # not yet 30 days

    clock(appliance).advance(120)
    counts = await appliance.rt.services.retention.purge()

    assert counts["attachments"] == 1
    assert counts["attachment_files"] == 1
    assert counts["messages"] == 0
    assert await status(appliance, key, finished) == 200
    remaining = files(appliance)
    assert [p.parent.name for p in remaining] == [waiting]  # the unfinished one keeps its file
    detail = (await appliance.client.get(f"/v1/messages/{finished}", headers=key.auth)).json()
    assert detail.get("attachments", []) == []


async def test_a_failed_message_keeps_its_attachments_for_a_retry(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    key = appliance.admin
    assert key is not None
    failed = await send(appliance, key, scheduledAt=FAR, attachments=[PDF])
    conn = sqlite3.connect(appliance.rt.config.storage.path)
    try:  # as the engine leaves a message whose retries ran out: failed, its job dead
        with conn:
            conn.execute("UPDATE messages SET status = 'failed' WHERE id = ?", (failed,))
            conn.execute("UPDATE jobs SET state = 'dead' WHERE ref_id = ?", (failed,))
    finally:
        conn.close()

    clock(appliance).advance(31 * DAY)
    counts = await appliance.rt.services.retention.purge()

    assert counts["attachments"] == 0
    assert [p.parent.name for p in files(appliance)] == [failed]


async def test_a_shared_batch_file_stays_while_a_message_still_refers_to_it(
    appliance: Appliance,
) -> None:
    await appliance.start(deliver=False)
    key = appliance.admin
    assert key is not None
    body = {
        "from": {"email": "noreply@example.com"},
        "subject": "Hi",
        "htmlBody": "<p>Hi</p>",
        "attachments": [PDF],
        "scheduledAt": FAR,
        "recipients": [{"to": ["a@example.org"]}, {"to": ["b@example.org"]}],
    }
    resp = await appliance.client.post("/v1/messages/batch", json=body, headers=key.auth)
    assert resp.status_code == 202, resp.text
    batch_id = resp.json()["batchId"]
    page = await appliance.client.get(f"/v1/batches/{batch_id}/messages", headers=key.auth)
    first, second = (m["messageId"] for m in page.json()["data"])
    cancel = await appliance.client.post(f"/v1/messages/{first}/cancel", headers=key.auth)
    assert cancel.status_code == 200
    clock(appliance).advance(91 * DAY)

    counts = await appliance.rt.services.retention.purge()

    assert counts["messages"] == 1
    assert counts["attachment_files"] == 0
    assert len(files(appliance)) == 1  # the scheduled second message still needs it
    assert await status(appliance, key, second) == 200


async def test_dry_run_counts_what_the_purge_then_removes_and_changes_nothing(
    appliance: Appliance,
) -> None:
    await appliance.start(deliver=False)
    key = appliance.admin
    assert key is not None
    old = [await cancelled(appliance, key, attachments=[PDF]) for _ in range(3)]
    await send(appliance, key)  # queued: never counted
    clock(appliance).advance(100 * DAY)

    plan = await appliance.rt.services.retention.plan()

    assert plan.counts["messages"] == 3
    assert plan.counts["attachment_files"] == 3
    assert plan.oldest is not None and plan.newest is not None
    assert all([await status(appliance, key, m) == 200 for m in old])
    assert len(files(appliance)) == 3
    counts = await appliance.rt.services.retention.purge()
    assert counts == plan.counts


async def test_retention_days_zero_keeps_finished_messages_forever(appliance: Appliance) -> None:
    appliance.configure(storage={"retention_days": 0, "attachment_retention_days": 0})
    await appliance.start(deliver=False)
    key = appliance.admin
    assert key is not None
    finished = await cancelled(appliance, key, attachments=[PDF])
    clock(appliance).advance(3650 * DAY)

    counts = await appliance.rt.services.retention.purge()

    assert not any(counts.values())
    assert await status(appliance, key, finished) == 200
    assert len(files(appliance)) == 1


async def test_the_housekeeping_task_purges_on_its_interval_and_counts_the_rows(
    appliance: Appliance,
) -> None:
    appliance.configure(storage={"purge_interval_seconds": 0.05, "purge_batch_size": 2})
    await appliance.start(deliver=False)
    key = appliance.admin
    assert key is not None
    finished = [await cancelled(appliance, key) for _ in range(5)]  # three steps of two
    clock(appliance).advance(91 * DAY)

    async def all_gone() -> bool:
        return all([await status(appliance, key, m) == 404 for m in finished])

    await wait_until(all_gone, message="the housekeeping task never purged")
    metrics = appliance.rt.services.metrics.render().decode()
    assert 'iep_purged_rows_total{kind="messages"} 5.0' in metrics
