"""All SQL of the operator dashboard: reads across tenants (the dashboard is the operator's
view, never reachable by a tenant's key). Statements run on a reader connection and never
await; verbs/dashboard.py is the async side."""

import sqlite3

from iep_appliance.domain.dashboard import (
    DeadJob,
    OutboxItem,
    OutboxMime,
)
from iep_appliance.domain.models import Event, MessageRecord
from iep_appliance.store.sqlite import rows
from iep_appliance.store.sqlite.messages import attachments_of

# One message of any tenant.
SELECT_MESSAGE = f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE id = ?"
# Its events in insertion order.
SELECT_EVENTS = "SELECT type, created_at, payload FROM events WHERE message_id = ? ORDER BY id"
# Messages by tenant and status (a scan of the messages_tenant_status index).
SELECT_TENANT_COUNTS = "SELECT tenant_id, status, count(*) FROM messages GROUP BY tenant_id, status"
# Messages in one status now, of every tenant (messages_status_created) or of one.
COUNT_STATUS = "SELECT count(*) FROM messages WHERE status = ?"
COUNT_TENANT_STATUS = "SELECT count(*) FROM messages WHERE tenant_id = ? AND status = ?"
# Outbox entries, newest first, with the subject and recipients of their message.
SELECT_OUTBOX = (
    "SELECT o.message_id, o.tenant_id, o.created_at, length(o.mime),"
    " coalesce(m.rendered_subject, m.subject), m.to_addrs"
    " FROM outbox o LEFT JOIN messages m ON m.id = o.message_id"
    " WHERE (?1 IS NULL OR (o.created_at, o.message_id) < (?1, ?2))"
    " ORDER BY o.created_at DESC, o.message_id DESC LIMIT ?3"
)
# The stored MIME of one outbox entry, any tenant.
SELECT_OUTBOX_MIME = "SELECT tenant_id, mime FROM outbox WHERE message_id = ?"
# The DLQ, newest first, with the message of each send job.
SELECT_DEAD_JOBS = (
    "SELECT j.id, j.kind, j.ref_id, j.tenant_id, j.attempts, j.last_error, j.updated_at,"
    " m.status, coalesce(m.rendered_subject, m.subject), m.to_addrs"
    " FROM jobs j LEFT JOIN messages m ON j.kind = 'send' AND m.id = j.ref_id"
    " WHERE j.state = 'dead' AND (?1 IS NULL OR j.id < ?1) ORDER BY j.id DESC LIMIT ?2"
)


def get_message(conn: sqlite3.Connection, message_id: str) -> MessageRecord | None:
    row = conn.execute(SELECT_MESSAGE, (message_id,)).fetchone()
    if row is None:
        return None
    events = tuple(
        Event(type=t, timestamp=ts, data=rows.loads(p, {}))
        for t, ts, p in conn.execute(SELECT_EVENTS, (message_id,))
    )
    return rows.message(row, attachments_of(conn, message_id), events)


def status_count(conn: sqlite3.Connection, status: str, tenant_id: str | None) -> int:
    if tenant_id is None:
        return int(conn.execute(COUNT_STATUS, (status,)).fetchone()[0])
    return int(conn.execute(COUNT_TENANT_STATUS, (tenant_id, status)).fetchone()[0])


def tenant_counts(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for tenant_id, status, n in conn.execute(SELECT_TENANT_COUNTS):
        out.setdefault(tenant_id, {})[status] = int(n)
    return out


def list_outbox(
    conn: sqlite3.Connection, limit: int, before: tuple[str, str] | None
) -> list[OutboxItem]:
    at, message_id = before or (None, None)
    return [
        rows.struct_of(OutboxItem, r, size_bytes=int(r[3]), to=tuple(rows.loads(r[5], [])))
        for r in conn.execute(SELECT_OUTBOX, (at, message_id, limit))
    ]


def outbox_mime(conn: sqlite3.Connection, message_id: str) -> OutboxMime | None:
    row = conn.execute(SELECT_OUTBOX_MIME, (message_id,)).fetchone()
    return OutboxMime(tenant_id=row[0], mime=bytes(row[1])) if row else None


def dead_jobs(conn: sqlite3.Connection, limit: int, before_id: int | None) -> list[DeadJob]:
    return [
        rows.struct_of(DeadJob, r, to=tuple(rows.loads(r[9], [])))
        for r in conn.execute(SELECT_DEAD_JOBS, (before_id, limit))
    ]
