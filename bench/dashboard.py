"""Dashboard benchmark: every /admin page over 100,000 stored messages, p50 and p99 per page.

Builds a fresh database with the real migrations and bulk-loads, with plain SQL, 100,000
messages of 3 tenants over 30 days (90 % sent, 6 % failed, 3 % bounced, 1 % scheduled; tags,
categories, 3 queues), three events and a done job per message, the dead jobs of the failed
ones, an outbox copy for one in ten, and the hourly rollups the write path would have kept.
Then it starts the real Runtime on that file (delivery off, so nothing changes while it
measures), signs in, and requests each page in process through the ASGI app (no sockets:
the figures are the server's own time, templates included). Run:
`python -m bench.dashboard [--messages 100000] [--repeat 30]`.

The target is "well under 200 ms" per page.
"""

import argparse
import asyncio
import random
import re
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from iep_appliance.app import build_app
from iep_appliance.clock import Clock
from iep_appliance.config import parse
from iep_appliance.domain import ids
from iep_appliance.runtime import Runtime
from iep_appliance.services.tenants import create_admin_user, create_tenant

TENANTS = ("acme", "globex", "initech")
QUEUES = ("default", "bulk", "alerts")
CATEGORIES = ("welcome", "receipt", "digest", None)
TAGS = ('{"tags":["a"]}', '{"tags":["a","b"]}', "{}", '{"tags":["b"]}')
MIME = (
    b"From: n@example.com\r\nTo: a@example.org\r\nSubject: Receipt\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n<h1>Thanks</h1><p>" + b"x" * 3000 + b"</p>\r\n"
)

INSERT_MESSAGE = (
    "INSERT INTO messages (id, tenant_id, queue, to_addrs, from_email, subject, html_body,"
    " rendered_subject, metadata, category, status, attempts, max_attempts, last_error,"
    " scheduled_at, sent_at, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, 'n@example.com', 'Receipt {{n}}', '<p>Hello {{n}}</p>', ?, ?, ?, ?,"
    " 1, 5, ?, ?, ?, ?, ?)"
)
INSERT_EVENT = (
    "INSERT INTO events (message_id, tenant_id, type, payload, created_at) VALUES (?, ?, ?, ?, ?)"
)
INSERT_JOB = (
    "INSERT INTO jobs (kind, ref_id, tenant_id, priority, run_at, attempts, max_attempts, state,"
    " last_error, created_at, updated_at) VALUES ('send', ?, ?, 1, ?, 1, 5, ?, ?, ?, ?)"
)
INSERT_OUTBOX = "INSERT INTO outbox (message_id, tenant_id, mime, created_at) VALUES (?, ?, ?, ?)"
ROLLUP = """
INSERT INTO stats_hourly (tenant_id, hour, queue, category, tag, status, count)
SELECT tenant_id, hour, queue, category, '', status, count(*) FROM (
    SELECT tenant_id, substr(created_at, 1, 13) || ':00:00.000Z' AS hour, queue,
           coalesce(category, '') AS category, 'queued' AS status FROM messages
    UNION ALL
    SELECT tenant_id, substr(updated_at, 1, 13) || ':00:00.000Z', queue,
           coalesce(category, ''), status FROM messages WHERE status != 'scheduled')
GROUP BY tenant_id, hour, queue, category, status
"""


def uuid7(ms: int, rnd: random.Random) -> str:
    h = f"{ms:012x}7{rnd.getrandbits(12):03x}{rnd.getrandbits(64) | (1 << 63):016x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def load(path: Path, n: int, now: datetime, tenant_ids: list[str]) -> float:
    started = time.perf_counter()
    rnd = random.Random(8)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    span_us = 29 * 24 * 3600 * 10**6
    # Oldest first, as the write path appends them (event ids follow time).
    offsets = sorted((rnd.randrange(span_us) for _ in range(n)), reverse=True)
    for i, offset in enumerate(offsets):
        created = now - timedelta(microseconds=offset)
        finished = created + timedelta(seconds=rnd.randrange(1, 120))
        roll = rnd.random()
        status = (
            "sent"
            if roll < 0.90
            else "failed"
            if roll < 0.96
            else "bounced"
            if roll < 0.99
            else "scheduled"
        )
        message_id = uuid7(int(created.timestamp() * 1000), rnd)
        tenant = tenant_ids[i % len(tenant_ids)]
        c, f = ids.iso(created), ids.iso(finished)
        error = "451 4.3.0 mailbox busy (at RCPT)" if status in ("failed", "bounced") else None
        later = ids.iso(now + timedelta(days=2, seconds=i)) if status == "scheduled" else None
        conn.execute(
            INSERT_MESSAGE,
            (
                message_id,
                tenant,
                QUEUES[i % 3],
                f'["user{i}@example.org"]',
                f"Receipt {i}",
                TAGS[i % 4],
                CATEGORIES[(i // 3) % 4],
                status,
                error,
                later,
                f if status == "sent" else None,
                c,
                f,
            ),
        )
        conn.execute(INSERT_EVENT, (message_id, tenant, "queued", "{}", c))
        if status != "scheduled":
            conn.execute(INSERT_EVENT, (message_id, tenant, "processing", "{}", c))
            conn.execute(INSERT_EVENT, (message_id, tenant, status, '{"attempt":1}', f))
        state = {"failed": "dead", "scheduled": "ready"}.get(status, "done")
        conn.execute(INSERT_JOB, (message_id, tenant, later or f, state, error, c, f))
        if i % 10 == 0 and status == "sent":
            conn.execute(INSERT_OUTBOX, (message_id, tenant, MIME, f))
    conn.execute(ROLLUP)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - started


async def timed(client: httpx.AsyncClient, path: str, repeat: int, **kw: Any) -> list[float]:
    resp = await client.get(path, **kw)  # warm
    assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        resp = await client.get(path, **kw)
        times.append((time.perf_counter() - started) * 1000)
        assert resp.status_code == 200, path
    return times


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def run(n: int, repeat: int) -> None:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="iep-bench-dashboard-") as tmp:
        config = parse(
            {
                "storage": {"path": "data/iep.db", "attachments_dir": "data/attachments"},
                "providers": {"outbox": {"type": "outbox"}},
                "routing": {"default_provider": "outbox"},
            },
            Path(tmp),
        )
        rt = Runtime(config, Clock(), deliver=False)
        await rt.start()
        tenant_ids = [(await create_tenant(rt.store, s, s.title(), [])).id for s in TENANTS]
        await create_admin_user(rt.store, "bench@example.com", "bench-password", "admin")
        await rt.stop()
        seconds = load(Path(config.storage.path), n, now, tenant_ids)
        print(f"loaded {n:,} messages, {3 * n:,} events, {n:,} jobs in {seconds:.1f} s")

        rt = Runtime(config, Clock(), deliver=False)
        await rt.start()
        transport = httpx.ASGITransport(app=build_app(rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            form = await client.get("/admin/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token
            data = {"email": "bench@example.com", "password": "bench-password"}
            resp = await client.post("/admin/login", data={**data, "csrf_token": token.group(1)})
            assert resp.status_code in (200, 303), resp.text[:300]
            listing = (await client.get("/admin/messages")).text
            message_id = re.findall(r'<tr data-id="([^"]+)"', listing)[0]
            outboxed = re.findall(
                r'href="/admin/outbox/([^"/]+)"', (await client.get("/admin/outbox")).text
            )[0]
            day = (now - timedelta(days=3)).date().isoformat()
            pages = [
                ("overview", "/admin/", {}),
                ("overview, one tenant", "/admin/?tenant=globex", {}),
                ("overview partial (poll)", "/admin/", {"headers": {"HX-Request": "true"}}),
                ("messages", "/admin/messages", {}),
                ("messages rows (poll)", "/admin/messages", {"headers": {"HX-Request": "true"}}),
                ("messages, status=failed", "/admin/messages?status=failed", {}),
                ("messages, tenant+status", "/admin/messages?tenant=acme&status=sent", {}),
                ("messages, one day", f"/admin/messages?from={day}&to={day}", {}),
                ("messages, recipient", "/admin/messages?recipient=user4242@", {}),
                ("messages, subject", "/admin/messages?subject=receipt 99", {}),
                ("messages, tag", "/admin/messages?tag=b", {}),
                ("messages, by id", f"/admin/messages?id={message_id}", {}),
                ("message detail", f"/admin/messages/{message_id}", {}),
                ("message preview", f"/admin/messages/{message_id}/preview", {}),
                ("outbox", "/admin/outbox", {}),
                ("outbox message", f"/admin/outbox/{outboxed}", {}),
                ("queue", "/admin/queue", {}),
            ]
            print(f"{'page':<28}{'p50 ms':>9}{'p99 ms':>9}")
            for name, path, kw in pages:
                times = await timed(client, path, repeat, **kw)
                print(f"{name:<28}{statistics.median(times):>9.1f}{p99(times):>9.1f}")
        await rt.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.repeat))


if __name__ == "__main__":
    main()
