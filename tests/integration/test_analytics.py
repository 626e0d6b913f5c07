"""Delivery analytics (/v1/analytics) over a real Runtime: messages go through
the whole pipeline to a real SMTP sink (sent, bounced at RCPT) or fail at render time, and the
counts the API answers match them exactly, by bucket, by category, tag and queue, without
counting a message with several tags twice. The last test loads rollups equivalent to
1,000,000 messages and reads them back through the API (timed by bench/analytics.py, not here).
"""

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from iep_appliance.clock import FakeClock
from iep_appliance.domain import ids
from iep_appliance.domain.analytics import STATS_STATUSES
from iep_appliance.store.sqlite.analytics import UPSERT_STAT
from iep_appliance.store.sqlite.migrate import _scripts, _split, migrate
from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.problems import assert_problem
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until

START = datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
BOUNCE = "nobody@example.org"
ZERO = dict.fromkeys(STATS_STATUSES, 0)


@pytest.fixture
async def appliance(tmp_path: Path, smtp_sink: SmtpSink) -> AsyncIterator[Appliance]:
    smtp_sink.set_rcpt_rule(
        lambda address, _n: "550 5.1.1 no such user" if address == BOUNCE else None
    )
    app = Appliance(tmp_path)
    app.clock = FakeClock(START)
    app.configure(
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port}},
        routing={"default_provider": "relay"},
    )
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
async def acme(appliance: Appliance) -> TenantKey:
    return await appliance.tenant("acme")


async def send(appliance: Appliance, who: TenantKey, **overrides: Any) -> str:
    resp = await appliance.client.post("/v1/messages", json=message(**overrides), headers=who.auth)
    assert resp.status_code == 202, resp.text
    return resp.json()["messageId"]


async def settled(appliance: Appliance, who: TenantKey, ids_: list[str]) -> None:
    """Wait until none of `ids_` is queued or processing any more."""

    async def done() -> bool:
        for message_id in ids_:
            resp = await appliance.client.get(f"/v1/messages/{message_id}", headers=who.auth)
            if resp.json()["status"] in ("queued", "processing"):
                return False
        return True

    await wait_until(done, timeout=20, message="every message reached a final status")


async def delivery(appliance: Appliance, who: TenantKey, **params: str) -> dict[str, Any]:
    resp = await appliance.client.get("/v1/analytics/delivery", params=params, headers=who.auth)
    assert resp.status_code == 200, resp.text
    return resp.json()


def counts(bucket: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in bucket.items() if k != "start"}


def total(body: dict[str, Any]) -> dict[str, int]:
    out = dict(ZERO)
    for bucket in body["buckets"]:
        for status, n in counts(bucket).items():
            out[status] += n
    return out


async def send_the_mix(appliance: Appliance, who: TenantKey) -> None:
    """5 sent (3 tagged a+b, 2 tagged b), 2 failed at render (tagged a), 1 bounced, all queued;
    1 scheduled for tomorrow."""
    welcome = {"category": "welcome"}
    sent = [await send(appliance, who, metadata={**welcome, "tags": ["a", "b"]}) for _ in range(3)]
    sent += [await send(appliance, who, metadata={**welcome, "tags": ["b", "b"]}) for _ in range(2)]
    broken = [
        await send(
            appliance,
            who,
            htmlBody="<p>{{> missing_partial}}</p>",
            metadata={"category": "receipt", "tags": ["a"]},
        )
        for _ in range(2)
    ]
    bounced = [await send(appliance, who, to=[BOUNCE], metadata={"category": "receipt"})]
    tomorrow = ids.iso(START + timedelta(days=1))
    await send(appliance, who, scheduledAt=tomorrow)
    await settled(appliance, who, sent + broken + bounced)


async def test_counts_match_the_messages_sent(appliance: Appliance, acme: TenantKey) -> None:
    await send_the_mix(appliance, acme)
    body = await delivery(appliance, acme)
    assert body["groupBy"] == "hour"
    assert (body["from"], body["to"]) == ("2025-12-31T11:00:00.000Z", "2026-01-01T11:00:00.000Z")
    assert len(body["buckets"]) == 24
    *earlier, now = body["buckets"]
    assert all(counts(b) == ZERO for b in earlier)
    assert now["start"] == "2026-01-01T10:00:00.000Z"
    assert counts(now) == {
        **ZERO,
        "queued": 8,
        "scheduled": 1,
        "sent": 5,
        "failed": 2,
        "bounced": 1,
    }
    by_day = await delivery(appliance, acme, groupBy="day")
    assert len(by_day["buckets"]) == 30
    assert by_day["buckets"][-1]["start"] == "2026-01-01T00:00:00.000Z"
    assert counts(by_day["buckets"][-1]) == counts(now)


async def test_filters_by_category_and_tag_never_double_count(
    appliance: Appliance, acme: TenantKey
) -> None:
    await send_the_mix(appliance, acme)
    welcome = total(await delivery(appliance, acme, category="welcome"))
    assert welcome == {**ZERO, "queued": 5, "sent": 5}
    receipt = total(await delivery(appliance, acme, category="receipt"))
    assert receipt == {**ZERO, "queued": 3, "failed": 2, "bounced": 1}
    tag_a = total(await delivery(appliance, acme, tag="a"))
    assert tag_a == {**ZERO, "queued": 5, "sent": 3, "failed": 2}
    tag_b = total(await delivery(appliance, acme, tag="b"))  # ["b", "b"] counts once
    assert tag_b == {**ZERO, "queued": 5, "sent": 5}
    both = total(await delivery(appliance, acme, category="welcome", tag="a"))
    assert both == {**ZERO, "queued": 3, "sent": 3}
    assert total(await delivery(appliance, acme, tag="nope")) == ZERO


async def test_overview_totals_rates_and_queue_depths(
    appliance: Appliance, acme: TenantKey
) -> None:
    await send_the_mix(appliance, acme)
    resp = await appliance.client.get("/v1/analytics/overview", headers=acme.auth)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["totals"] == {
        **ZERO,
        "queued": 8,
        "scheduled": 1,
        "sent": 5,
        "failed": 2,
        "bounced": 1,
        "accepted": 9,
    }
    assert body["deliveryRate"] == pytest.approx(5 / 8)
    assert body["bounceRate"] == pytest.approx(1 / 8)
    assert body["queueDepths"] == {
        "default": {"scheduled": 1, "queued": 0, "processing": 0, "total": 1}
    }
    assert (body["from"], body["to"]) == ("2025-12-03T00:00:00.000Z", "2026-01-02T00:00:00.000Z")


async def test_buckets_follow_the_time_of_each_status_change(
    appliance: Appliance, acme: TenantKey
) -> None:
    first = await send(appliance, acme)
    await settled(appliance, acme, [first])
    assert isinstance(appliance.clock, FakeClock)
    appliance.clock.advance(2 * 3600)
    second = await send(appliance, acme)
    await settled(appliance, acme, [second])
    body = await delivery(appliance, acme)
    busy = {b["start"]: counts(b) for b in body["buckets"] if any(counts(b).values())}
    assert busy == {
        "2026-01-01T10:00:00.000Z": {**ZERO, "queued": 1, "sent": 1},
        "2026-01-01T12:00:00.000Z": {**ZERO, "queued": 1, "sent": 1},
    }
    narrow = await delivery(
        appliance, acme, **{"from": "2026-01-01T11:15:00Z", "to": "2026-01-01T13:00:00Z"}
    )
    assert [b["start"] for b in narrow["buckets"]] == [
        "2026-01-01T11:00:00.000Z",
        "2026-01-01T12:00:00.000Z",
    ]
    assert total(narrow) == {**ZERO, "queued": 1, "sent": 1}


async def test_queue_filter_and_depth_of_a_paused_queue(
    appliance: Appliance, acme: TenantKey
) -> None:
    resp = await appliance.client.post("/v1/queues", json={"name": "bulk"}, headers=acme.auth)
    assert resp.status_code == 201, resp.text
    paused = await appliance.client.post(f"/v1/queues/{resp.json()['id']}/pause", headers=acme.auth)
    assert paused.status_code == 200, paused.text
    for _ in range(2):
        await send(appliance, acme, queue="bulk")
    await settled(appliance, acme, [await send(appliance, acme)])
    assert total(await delivery(appliance, acme, queue="bulk")) == {**ZERO, "queued": 2}
    assert total(await delivery(appliance, acme, queue="default")) == {
        **ZERO,
        "queued": 1,
        "sent": 1,
    }
    overview = (await appliance.client.get("/v1/analytics/overview", headers=acme.auth)).json()
    assert overview["queueDepths"]["bulk"] == {
        "scheduled": 0,
        "queued": 2,
        "processing": 0,
        "total": 2,
    }


async def test_a_manual_retry_counts_as_retried_not_as_a_new_accept(
    appliance: Appliance, acme: TenantKey
) -> None:
    broken = await send(appliance, acme, htmlBody="{{> missing_partial}}")
    await settled(appliance, acme, [broken])
    retry = await appliance.client.post(f"/v1/messages/{broken}/retry", headers=acme.auth)
    assert retry.status_code == 202, retry.text
    await settled(appliance, acme, [broken])
    assert total(await delivery(appliance, acme)) == {
        **ZERO,
        "queued": 1,
        "failed": 2,
        "retried": 1,
    }


def test_migration_backfills_rollups_of_messages_stored_before_it(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    for number, _name, sql in _scripts():  # a database as it was before 0006
        if number < 6:
            for statement in _split(sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
    conn.execute(
        "INSERT INTO messages (id, tenant_id, to_addrs, from_email, subject, html_body, status,"
        " max_attempts, metadata, category, created_at, updated_at, sent_at) VALUES"
        " ('m1', 't', '[]', 'a@example.com', 's', 'h', 'sent', 3, ?, 'news',"
        " '2026-01-01T05:10:00.000Z', '2026-01-01T06:01:00.000Z', '2026-01-01T06:00:00.000Z')",
        ('{"tags": ["a", "a"]}',),
    )
    conn.execute(
        "INSERT INTO events (message_id, tenant_id, type, payload, created_at) VALUES"
        " ('m1', 't', 'queued', '{}', '2026-01-01T05:10:00.000Z'),"
        " ('m1', 't', 'retry_scheduled', '{}', '2026-01-01T05:11:00.000Z')"
    )

    assert "0006_analytics.sql" in migrate(conn)

    found = conn.execute(
        "SELECT hour, tag, status, count FROM stats_hourly ORDER BY tag, hour, status"
    ).fetchall()
    conn.close()
    assert found == [
        ("2026-01-01T05:00:00.000Z", "", "queued", 1),
        ("2026-01-01T05:00:00.000Z", "", "retried", 1),
        ("2026-01-01T06:00:00.000Z", "", "sent", 1),
        ("2026-01-01T05:00:00.000Z", "a", "queued", 1),
        ("2026-01-01T05:00:00.000Z", "a", "retried", 1),
        ("2026-01-01T06:00:00.000Z", "a", "sent", 1),
    ]


async def test_another_tenant_sees_none_of_it(appliance: Appliance, acme: TenantKey) -> None:
    await settled(appliance, acme, [await send(appliance, acme)])
    globex = await appliance.tenant("globex")
    assert total(await delivery(appliance, globex)) == ZERO
    overview = (await appliance.client.get("/v1/analytics/overview", headers=globex.auth)).json()
    assert overview["totals"]["accepted"] == 0 and overview["queueDepths"] == {}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"groupBy": "week"}, "groupBy"),
        ({"from": "last tuesday"}, "from"),
        ({"from": "2026-01-02", "to": "2026-01-01"}, "to"),
        ({"groupBy": "hour", "from": "2020-01-01", "to": "2026-01-01"}, "from"),
    ],
)
async def test_bad_parameters_are_422_naming_them(
    appliance: Appliance, acme: TenantKey, params: dict[str, str], field: str
) -> None:
    resp = await appliance.client.get("/v1/analytics/delivery", params=params, headers=acme.auth)
    assert_problem(resp, 422, field)


async def test_analytics_need_the_read_scope(appliance: Appliance, acme: TenantKey) -> None:
    sender = await appliance.key(acme, ("send",))
    for path in ("/v1/analytics/delivery", "/v1/analytics/overview"):
        assert_problem(await appliance.client.get(path, headers=sender.auth), 403)


async def test_rollups_of_a_million_messages_answer_through_the_api(
    appliance: Appliance, acme: TenantKey
) -> None:
    """30 days x 24 h x 3 queues x 4 categories of rollup rows, whose tag '' rows add up to
    1,000,000 accepted messages (90 % sent, 7 % failed, 3 % bounced); half the messages carry
    tag `a`, a quarter also tag `b`. Inserted with the store's own UPSERT, not as messages."""
    first = datetime(2025, 12, 3, tzinfo=UTC)
    combos = [
        (first + timedelta(hours=h), q, c)
        for h in range(30 * 24)
        for q in ("default", "bulk", "alerts")
        for c in ("welcome", "receipt", "digest", "")
    ]
    base, extra = divmod(1_000_000, len(combos))
    rows: list[tuple[Any, ...]] = []
    expected: dict[str, int] = dict.fromkeys(("queued", "sent", "failed", "bounced"), 0)
    tag_a = 0
    for i, (hour, queue, category) in enumerate(combos):
        n = base + (1 if i < extra else 0)
        split = {"queued": n, "failed": n * 7 // 100, "bounced": n * 3 // 100}
        split["sent"] = n - split["failed"] - split["bounced"]
        for status, count in split.items():
            expected[status] += count
            for tag, share in (("", 1.0), ("a", 0.5), ("b", 0.25)):
                part = int(count * share)
                if tag == "a":
                    tag_a += part if status == "queued" else 0
                rows.append((acme.tenant_id, ids.iso(hour), queue, category, tag, status, part))
    await appliance.rt.services.store.db.write(lambda conn: conn.executemany(UPSERT_STAT, rows))
    assert expected["queued"] == 1_000_000

    body = await delivery(appliance, acme, groupBy="day")
    assert len(body["buckets"]) == 30
    assert {k: v for k, v in total(body).items() if v} == expected
    assert total(await delivery(appliance, acme, groupBy="day", tag="a"))["queued"] == tag_a
    welcome = total(await delivery(appliance, acme, groupBy="day", category="welcome"))
    assert welcome["queued"] == sum(
        base + (1 if i < extra else 0) for i, c in enumerate(combos) if c[2] == "welcome"
    )
    overview = (await appliance.client.get("/v1/analytics/overview", headers=acme.auth)).json()
    assert overview["totals"]["accepted"] == 1_000_000
    assert overview["deliveryRate"] == pytest.approx(expected["sent"] / 1_000_000, abs=1e-6)
