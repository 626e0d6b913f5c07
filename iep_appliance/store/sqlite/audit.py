"""All SQL of the audit log and the key IP allowlist column (verbs: store/sqlite/verbs/audit.py).

The log is append-only: migration 0020's triggers refuse UPDATE, and DELETE unless the purge
gate is open to a cutoff the row is older than. `purge_audit` opens the gate, deletes and closes
it in one savepoint of the writer, so no other statement ever sees it open.
"""

import sqlite3
from typing import Any

from iep_appliance.domain.audit import (
    AuditActor,
    AuditEntry,
    AuditQuery,
    AuditTarget,
    action_pattern,
)
from iep_appliance.domain.models import ApiKey
from iep_appliance.store.sqlite import keys as q_keys
from iep_appliance.store.sqlite import rows
from iep_appliance.store.sqlite.where import Where

INSERT_ENTRY = (
    "INSERT INTO audit_log (id, at, tenant_id, actor_type, actor_id, actor_name, action,"
    " target_type, target_id, ip, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_COLUMNS = (
    "seq, id, at, tenant_id, actor_type, actor_id, actor_name, action, target_type, target_id,"
    " ip, details"
)
# Open the purge gate to a cutoff, delete a page of older entries (index audit_log_at), close it.
OPEN_GATE = "UPDATE audit_purge_gate SET purge_before = ? WHERE id = 1"
CLOSE_GATE = "UPDATE audit_purge_gate SET purge_before = NULL WHERE id = 1"
DELETE_OLD = (
    "DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log WHERE at < ? ORDER BY at, seq"
    " LIMIT ?)"
)
SET_ALLOWLIST = "UPDATE api_keys SET ip_allowlist = ? WHERE tenant_id = ? AND id = ? AND active = 1"


def select_of(q: AuditQuery) -> tuple[str, list[object]]:
    """The page query: every filter a bound parameter, newest first along an index."""
    where = Where()
    if q.tenant_id is not None:
        where.add("tenant_id = ?", q.tenant_id)
    if q.actor:
        where.add("(actor_id = ? OR actor_name = ? OR actor_type = ?)", q.actor, q.actor, q.actor)
    if q.action:
        text, prefix = action_pattern(q.action)
        if prefix:
            where.add("substr(action, 1, ?) = ?", len(text), text)
        else:
            where.add("action = ?", text)
    if q.since:
        where.add("at >= ?", q.since)
    if q.until:
        where.add("at < ?", q.until)
    if q.before_seq is not None:
        where.add("seq < ?", q.before_seq)
    sql = f"SELECT {_COLUMNS} FROM audit_log{where.clause()} ORDER BY seq DESC LIMIT ?"
    return sql, [*where.args, q.limit]


def entry_of(row: tuple[Any, ...]) -> AuditEntry:
    return AuditEntry(
        seq=row[0],
        id=row[1],
        at=row[2],
        tenant_id=row[3],
        actor=AuditActor(type=row[4], id=row[5], name=row[6]),
        action=row[7],
        target=AuditTarget(type=row[8], id=row[9]),
        ip=row[10],
        details=rows.loads(row[11], {}),
    )


def insert_entries(conn: sqlite3.Connection, entries: list[AuditEntry]) -> None:
    conn.executemany(
        INSERT_ENTRY,
        [
            (
                e.id,
                e.at,
                e.tenant_id,
                e.actor.type,
                e.actor.id,
                e.actor.name,
                e.action,
                e.target.type,
                e.target.id,
                e.ip,
                rows.dumps(e.details),
            )
            for e in entries
        ],
    )


def purge(conn: sqlite3.Connection, before: str, limit: int) -> int:
    conn.execute(OPEN_GATE, (before,))
    try:
        return conn.execute(DELETE_OLD, (before, limit)).rowcount
    finally:
        conn.execute(CLOSE_GATE)


def set_allowlist(
    conn: sqlite3.Connection, tenant_id: str, key_id: str, allowlist: list[str]
) -> ApiKey | None:
    if conn.execute(SET_ALLOWLIST, (rows.dumps(allowlist), tenant_id, key_id)).rowcount != 1:
        return None
    return q_keys.get_key(conn, tenant_id, key_id)
