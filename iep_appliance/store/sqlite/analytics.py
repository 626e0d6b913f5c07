"""All SQL for delivery analytics: the hourly rollups and the queries over them.

Writes run inside the caller's transaction on the writer thread (the status change and its
count commit together, or neither does) and cost one UPSERT per status change plus one per
distinct tag. Every message counts once in its tag '' row; tag rows exist only for filtering,
so totals never double count a message with several tags. Never awaits.
"""

import sqlite3
from collections import Counter
from collections.abc import Iterable
from typing import Any

from iep_appliance.domain.analytics import StatsQuery, StatusCount

# Add `count` to one rollup row.
UPSERT_STAT = (
    "INSERT INTO stats_hourly (tenant_id, hour, queue, category, tag, status, count)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (tenant_id, tag, hour, queue, category, status)"
    " DO UPDATE SET count = count + excluded.count"
)
# Count one status change of a stored message: its '' row and one row per distinct tag.
# (The WHERE on the outer SELECT keeps the parser from reading ON CONFLICT as a join.)
UPSERT_STAT_OF_MESSAGE = (
    "INSERT INTO stats_hourly (tenant_id, hour, queue, category, tag, status, count)"
    " SELECT tenant_id, ?1, queue, coalesce(category, ''), tag, ?2, 1 FROM ("
    "  SELECT tenant_id, queue, category, '' AS tag FROM messages WHERE id = ?3"
    "  UNION"
    "  SELECT m.tenant_id, m.queue, m.category, t.value FROM messages m,"
    "   json_each(m.metadata, '$.tags') t"
    "  WHERE m.id = ?3 AND json_type(m.metadata, '$.tags') = 'array' AND t.type = 'text'"
    "   AND t.value != '') WHERE true"
    " ON CONFLICT (tenant_id, tag, hour, queue, category, status)"
    " DO UPDATE SET count = count + 1"
)
# Counts by bucket (a prefix of `hour`: 13 chars = hour, 10 = day) and status.
SELECT_BUCKETS = (
    "SELECT substr(hour, 1, ?) AS bucket, status, sum(count) FROM stats_hourly"
    " WHERE tenant_id = ? AND tag = ? AND hour >= ? AND hour < ?{filters}"
    " GROUP BY bucket, status"
)
# Totals by status over a range.
SELECT_TOTALS = (
    "SELECT status, sum(count) FROM stats_hourly"
    " WHERE tenant_id = ? AND tag = ? AND hour >= ? AND hour < ?{filters}"
    " GROUP BY status"
)
# Messages waiting or in flight, by queue and status.
SELECT_QUEUE_DEPTHS = (
    "SELECT queue, status, count(*) FROM messages"
    " WHERE tenant_id = ? AND status IN ('scheduled', 'queued', 'processing')"
    " GROUP BY queue, status"
)

# Completion.status → rollup status (a `queued` completion is a scheduled retry).
FINISH_STATUS = {"sent": "sent", "failed": "failed", "bounced": "bounced", "queued": "retried"}


def hour_of(ts: str) -> str:
    """'2026-01-01T05:17:03.120Z' → '2026-01-01T05:00:00.000Z'."""
    return ts[:13] + ":00:00.000Z"


def tags_of(metadata: dict[str, Any]) -> list[str]:
    tags = metadata.get("tags")
    if not isinstance(tags, list):
        return []
    return sorted({t for t in tags if isinstance(t, str) and t})


def record_accept(
    conn: sqlite3.Connection,
    tenant_id: str,
    status: str,
    at: str,
    queue: str,
    category: str | None,
    metadata: dict[str, Any],
) -> None:
    """Count one accepted message (status `queued` or `scheduled`)."""
    hour, cat = hour_of(at), category or ""
    conn.execute(UPSERT_STAT, (tenant_id, hour, queue, cat, "", status, 1))
    for tag in tags_of(metadata):
        conn.execute(UPSERT_STAT, (tenant_id, hour, queue, cat, tag, status, 1))


def record_accepts(
    conn: sqlite3.Connection,
    tenant_id: str,
    rows: Iterable[tuple[str, str, str, str | None, dict[str, Any]]],
) -> None:
    """Count many accepted messages at once (a batch): rows of
    (status, at, queue, category, metadata), summed in memory, one UPSERT per rollup row."""
    counts: Counter[tuple[str, str, str, str, str]] = Counter()
    for status, at, queue, category, metadata in rows:
        hour, cat = hour_of(at), category or ""
        counts[(hour, queue, cat, "", status)] += 1
        for tag in tags_of(metadata):
            counts[(hour, queue, cat, tag, status)] += 1
    conn.executemany(
        UPSERT_STAT,
        [(tenant_id, h, q, c, t, s, n) for (h, q, c, t, s), n in counts.items()],
    )


def record_status(conn: sqlite3.Connection, message_id: str, status: str, at: str) -> None:
    """Count one status change (sent, failed, bounced, retried, cancelled) of a stored message."""
    conn.execute(UPSERT_STAT_OF_MESSAGE, (hour_of(at), status, message_id))


def record_finish(
    conn: sqlite3.Connection, message_id: str, completion_status: str, at: str
) -> None:
    """Count the outcome of one send attempt (`Completion.status`)."""
    status = FINISH_STATUS.get(completion_status)
    if status is not None:
        record_status(conn, message_id, status, at)


def _filters(q: StatsQuery) -> tuple[str, list[Any]]:
    sql, args = "", []
    if q.queue is not None:
        sql += " AND queue = ?"
        args.append(q.queue)
    if q.category is not None:
        sql += " AND category = ?"
        args.append(q.category)
    return sql, args


def bucket_counts(conn: sqlite3.Connection, tenant_id: str, q: StatsQuery) -> list[StatusCount]:
    """Counts by bucket prefix and status over [q.start, q.end)."""
    extra, args = _filters(q)
    width = 13 if q.group_by == "hour" else 10
    sql = SELECT_BUCKETS.format(filters=extra)
    params = [width, tenant_id, q.tag or "", q.start, q.end, *args]
    return [StatusCount(b, s, int(n)) for b, s, n in conn.execute(sql, params)]


def totals(conn: sqlite3.Connection, tenant_id: str, q: StatsQuery) -> dict[str, int]:
    extra, args = _filters(q)
    sql = SELECT_TOTALS.format(filters=extra)
    params = [tenant_id, q.tag or "", q.start, q.end, *args]
    return {s: int(n) for s, n in conn.execute(sql, params)}


def queue_depths(conn: sqlite3.Connection, tenant_id: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for queue, status, n in conn.execute(SELECT_QUEUE_DEPTHS, (tenant_id,)):
        out.setdefault(queue, {})[status] = int(n)
    return out
