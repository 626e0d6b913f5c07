"""Analytics benchmark: /v1/analytics queries over 1,000,000 messages, rollups vs a naive scan.

Builds a fresh database with the real migrations, bulk-loads 1,000,000 messages (30 days,
3 queues, 4 categories, 75 % tagged, 90 % sent / 7 % failed / 3 % bounced) with plain SQL,
and derives the hourly rollups from them the way the write path keeps them (one accept row
at the creation hour, one final-status row at the hour it finished, tag rows besides the
tag '' row). Accepting a million messages through the API would take minutes and measure
the accept path, not the query. Then it times, through the store's own read path (reader
thread, `Store.delivery_stats` / `stats_totals`), each query the API runs, next to the naive
`GROUP BY` over the messages table that answers the same question, and prints medians and
ratios. Run: `python -m bench.analytics [--messages 1000000] [--repeat 5]`.
"""

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.analytics import fill_buckets, stats_query
from iep_appliance.store.sqlite.store import SqliteStore

TENANT = "bench-tenant"
QUEUES = ("default", "bulk", "alerts")
CATEGORIES = ("welcome", "receipt", "digest", None)
TAGS = ('{"tags":["a"]}', '{"tags":["a","b"]}', "{}", '{"tags":["b"]}')

INSERT_MESSAGE = (
    "INSERT INTO messages (id, tenant_id, queue, to_addrs, from_email, subject, html_body,"
    " metadata, category, status, max_attempts, sent_at, created_at, updated_at)"
    " VALUES (?, ?, ?, '[\"a@example.org\"]', 'n@example.com', 's', 'h', ?, ?, ?, 5, ?, ?, ?)"
)
# What the write path would have counted: each accept at its hour, each final status at its.
ROLLUP_EVENTS = """
CREATE TEMP TABLE counted AS
    SELECT tenant_id, substr(created_at, 1, 13) || ':00:00.000Z' AS hour, queue,
           coalesce(category, '') AS category, metadata, 'queued' AS status FROM messages
    UNION ALL
    SELECT tenant_id, substr(updated_at, 1, 13) || ':00:00.000Z', queue,
           coalesce(category, ''), metadata, status FROM messages
"""
ROLLUP_ALL = (
    "INSERT INTO stats_hourly (tenant_id, hour, queue, category, tag, status, count)"
    " SELECT tenant_id, hour, queue, category, '', status, count(*) FROM counted"
    " GROUP BY tenant_id, hour, queue, category, status"
)
ROLLUP_TAGS = (
    "INSERT INTO stats_hourly (tenant_id, hour, queue, category, tag, status, count)"
    " SELECT c.tenant_id, c.hour, c.queue, c.category, t.value, c.status, count(*)"
    " FROM counted c, json_each(c.metadata, '$.tags') t"
    " GROUP BY c.tenant_id, c.hour, c.queue, c.category, t.value, c.status"
)
# The reference: the same answer computed from the messages table at query time.
NAIVE = """
SELECT substr(created_at, 1, {width}), 'queued', count(*) FROM messages
 WHERE tenant_id = ? AND created_at >= ? AND created_at < ? {filter} GROUP BY 1
UNION ALL
SELECT substr(updated_at, 1, {width}), status, count(*) FROM messages
 WHERE tenant_id = ? AND updated_at >= ? AND updated_at < ?
   AND status IN ('sent', 'failed', 'bounced') {filter} GROUP BY 1, 2
"""
TAG_FILTER = "AND EXISTS (SELECT 1 FROM json_each(metadata, '$.tags') WHERE value = 'a')"


def load(path: Path, n: int, now: datetime) -> float:
    """Bulk-load `n` messages and their rollups; returns seconds taken."""
    started = time.perf_counter()
    rnd = random.Random(7)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    span = 29 * 24 * 3600  # inside the default 30-day window
    batch: list[tuple[Any, ...]] = []
    for i in range(n):
        created = now - timedelta(seconds=rnd.randrange(span))
        finished = created + timedelta(seconds=rnd.randrange(1, 120))
        roll = rnd.random()
        status = "sent" if roll < 0.90 else "failed" if roll < 0.97 else "bounced"
        batch.append(
            (
                f"m{i:08d}",
                TENANT,
                QUEUES[i % 3],
                TAGS[i % 4],
                CATEGORIES[(i // 3) % 4],
                status,
                ids.iso(finished) if status == "sent" else None,
                ids.iso(created),
                ids.iso(finished),
            )
        )
        if len(batch) == 50_000:
            conn.executemany(INSERT_MESSAGE, batch)
            batch.clear()
    conn.executemany(INSERT_MESSAGE, batch)
    conn.execute(ROLLUP_EVENTS)
    conn.execute(ROLLUP_ALL)
    conn.execute(ROLLUP_TAGS)
    conn.execute("DROP TABLE counted")
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - started


async def median_ms(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    result = await fn()  # warm the page cache and the reader connection
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = await fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


async def run(n: int, repeat: int) -> None:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="iep-bench-analytics-") as tmp:
        path = Path(tmp) / "iep.db"
        store = SqliteStore(str(path), Clock())
        await store.open()  # migrations
        await store.close()
        seconds = load(path, n, now)
        rollup_rows = sqlite3.connect(path).execute("SELECT count(*) FROM stats_hourly").fetchone()
        print(f"loaded {n:,} messages + {rollup_rows[0]:,} rollup rows in {seconds:.1f} s")
        store = SqliteStore(str(path), Clock())
        await store.open()
        try:
            cases = [
                ("by day, 30 days", stats_query(now, "day"), ""),
                ("by hour, 24 hours", stats_query(now, "hour"), ""),
                ("by day, 30 days, tag=a", stats_query(now, "day", tag="a"), TAG_FILTER),
                (
                    "by day, 30 days, category",
                    stats_query(now, "day", category="welcome"),
                    "AND category = 'welcome'",
                ),
            ]
            print(f"{'query':<28}{'rollups p50':>14}{'naive p50':>14}{'ratio':>9}")
            for name, q, naive_filter in cases:

                async def rollup(q: Any = q) -> Any:
                    return fill_buckets(q, await store.delivery_stats(TENANT, q))

                width = 13 if q.group_by == "hour" else 10
                sql = NAIVE.format(width=width, filter=naive_filter)
                args = (TENANT, q.start, q.end) * 2

                async def naive(sql: str = sql, args: tuple[str, ...] = args) -> Any:
                    return await store.db.read(lambda conn: conn.execute(sql, args).fetchall())

                fast, buckets = await median_ms(rollup, repeat)
                slow, rows = await median_ms(naive, max(1, repeat // 2))
                same = sum(sum(c.values()) for _, c in buckets) == sum(r[2] for r in rows)
                print(
                    f"{name:<28}{fast:>11.2f} ms{slow:>11.1f} ms{slow / fast:>8.0f}x"
                    + ("" if same else "  (counts differ!)")
                )
            q = stats_query(now, "day")
            fast, totals = await median_ms(lambda: store.stats_totals(TENANT, q), repeat)
            print(
                f"{'overview totals, 30 days':<28}{fast:>11.2f} ms  (accepted {totals['queued']:,})"
            )
        finally:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.repeat))


if __name__ == "__main__":
    main()
