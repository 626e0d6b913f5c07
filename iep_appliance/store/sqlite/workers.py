"""All SQL for worker processes sharing one store: the change feed, exact rate
windows counted in the store, and leases released by their owner.

Runs on a connection handed in by the writer or a reader; never awaits. The statements are
portable: PostgreSQL runs them through store/postgres/dialect.py. A rate reservation adds
first and decides on what the upsert returned (taking it back when over): the upsert holds the
window's row until the transaction ends, so processes (SQLite: one writer at a time;
PostgreSQL: the row lock) reserve one after another, exactly.
"""

import json
import sqlite3

import msgspec

from iep_appliance.domain import ids
from iep_appliance.domain.changes import Change, NodeBeat, ProviderBeat
from iep_appliance.domain.ratelimit import Limits, RateDecision, check, window_starts
from iep_appliance.store.sqlite import jobs as q_jobs

INSERT_CHANGE = "INSERT INTO changes (kind, ref, at) VALUES (?, ?, ?) RETURNING id"
LAST_CHANGE = "SELECT coalesce(max(id), 0) FROM changes"
CHANGES_AFTER = "SELECT id, kind, ref FROM changes WHERE id > ? ORDER BY id LIMIT 1000"
PURGE_CHANGES = "DELETE FROM changes WHERE at < ?"

ADD_TO_WINDOW = (
    "INSERT INTO rate_windows (tenant_id, window, start, count) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (tenant_id, window, start) DO UPDATE SET count = count + excluded.count"
    " RETURNING count"
)
TAKE_FROM_WINDOW = (
    "UPDATE rate_windows SET count = max(0, count - ?)"
    " WHERE tenant_id = ? AND window = ? AND start = ?"
)

# Leases of one owner, or (the first worker) of no current owner: back to ready.
RELEASE_OWNED = (
    "UPDATE jobs SET state = 'ready', lease_until = NULL, lease_owner = NULL, updated_at = ?"
    " WHERE state = 'leased' AND lease_owner = ?"
)
RELEASE_ORPHANED = (
    "UPDATE jobs SET state = 'ready', lease_until = NULL, lease_owner = NULL, updated_at = ?"
    " WHERE state = 'leased' AND (lease_owner IS NULL"
    " OR lease_owner NOT IN (SELECT value FROM json_each(?)))"
)


HEARTBEAT = (
    "INSERT INTO nodes (node_id, host, pid, backend, started_at, heartbeat_at, providers)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (node_id) DO UPDATE SET host = excluded.host,"
    " pid = excluded.pid, backend = excluded.backend, started_at = excluded.started_at,"
    " heartbeat_at = excluded.heartbeat_at, providers = excluded.providers"
)
LIST_NODES = (
    "SELECT node_id, host, pid, backend, started_at, heartbeat_at, providers FROM nodes"
    " ORDER BY node_id"
)
_providers = msgspec.json.Decoder(tuple[ProviderBeat, ...])


def heartbeat(conn: sqlite3.Connection, b: NodeBeat) -> None:
    providers = msgspec.json.encode(b.providers).decode()
    conn.execute(
        HEARTBEAT, (b.node_id, b.host, b.pid, b.backend, b.started_at, b.heartbeat_at, providers)
    )


def list_nodes(conn: sqlite3.Connection) -> list[NodeBeat]:
    return [
        NodeBeat(n, h, int(p), be, s, at, _providers.decode(prov))
        for n, h, p, be, s, at, prov in conn.execute(LIST_NODES)
    ]


def note_change(conn: sqlite3.Connection, kind: str, ref: str, now: str) -> int:
    return int(conn.execute(INSERT_CHANGE, (kind, ref, now)).fetchone()[0])


def last_change(conn: sqlite3.Connection) -> int:
    return int(conn.execute(LAST_CHANGE).fetchone()[0])


def changes_after(conn: sqlite3.Connection, after: int) -> list[Change]:
    return [Change(int(i), k, r) for i, k, r in conn.execute(CHANGES_AFTER, (after,))]


def purge_changes(conn: sqlite3.Connection, before: str) -> int:
    return conn.execute(PURGE_CHANGES, (before,)).rowcount


def reserve_rate(
    conn: sqlite3.Connection, tenant_id: str, limits: Limits, n: int, now: str
) -> RateDecision:
    """Add `n` to every current window, decide over the counts before it, and take it back
    when over: one transaction, the windows' rows held (in one order) until it ends."""
    at = ids.parse_iso(now)
    starts = {name: ids.iso(s) for name, s in window_starts(at).items()}
    counts = {}
    for name in sorted(starts):
        after = int(conn.execute(ADD_TO_WINDOW, (tenant_id, name, starts[name], n)).fetchone()[0])
        counts[name] = after - n
    decision = check(limits, {k: counts[k] for k in limits.by_window()}, at, n)
    if not decision.allowed:
        for name in sorted(starts):
            conn.execute(TAKE_FROM_WINDOW, (n, tenant_id, name, starts[name]))
    return decision


def refund_rate(conn: sqlite3.Connection, tenant_id: str, n: int, now: str) -> None:
    starts = window_starts(ids.parse_iso(now))
    for name, start in starts.items():
        conn.execute(TAKE_FROM_WINDOW, (n, tenant_id, name, ids.iso(start)))


def release_owned(conn: sqlite3.Connection, owner: str, now: str, orphans_of: list[str]) -> int:
    """Release `owner`'s leases; with `orphans_of` (the current owners), also every lease
    held by none of them. Their processing messages go back to queued (with an event)."""
    n = conn.execute(RELEASE_OWNED, (now, owner)).rowcount
    if orphans_of:
        n += conn.execute(RELEASE_ORPHANED, (now, json.dumps(orphans_of))).rowcount
    if n:
        requeued = conn.execute(q_jobs.REQUEUE_PROCESSING, (now,)).fetchall()
        q_jobs._requeued_events(conn, requeued, now)  # the same events as a release
    return n
