"""All SQL of the operator dashboard: reads across tenants (the dashboard is the operator's
view, never reachable by a tenant's key). Statements run on a reader connection and never
await; `DashboardVerbs` is the async side that SqliteStore mixes in."""

import sqlite3
from typing import Any

from iep_appliance.domain.dashboard import (
    DashboardFilter,
    DeadJob,
    MessageSlice,
    OutboxItem,
    OutboxMime,
)
from iep_appliance.domain.models import Event, MessageRecord
from iep_appliance.store.sqlite import rows
from iep_appliance.store.sqlite.db import Database
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


def _message_where(f: DashboardFilter) -> tuple[list[str], list[Any], list[str], list[Any]]:
    """(indexed conditions, args, residual conditions, args) of a message filter."""
    where: list[str] = []
    args: list[Any] = []
    if f.tenant_id:
        where.append("tenant_id = ?")
        args.append(f.tenant_id)
    if f.status:
        where.append("status = ?")
        args.append(f.status)
    if f.created_from:
        where.append("created_at >= ?")
        args.append(f.created_from)
    if f.created_to:
        where.append("created_at < ?")
        args.append(f.created_to)
    if f.before:
        where.append("(created_at, id) < (?, ?)")
        args.extend(f.before)
    residual: list[str] = []
    rargs: list[Any] = []
    if f.recipient:
        residual.append("instr(lower(to_addrs || cc_addrs || bcc_addrs), ?) > 0")
        rargs.append(f.recipient.lower())
    if f.subject:
        residual.append("instr(lower(coalesce(rendered_subject, subject)), ?) > 0")
        rargs.append(f.subject.lower())
    if f.category:
        residual.append("category = ?")
        rargs.append(f.category)
    if f.queue:
        residual.append("queue = ?")
        rargs.append(f.queue)
    if f.tag:
        residual.append(
            "json_type(metadata, '$.tags') = 'array' AND EXISTS"
            " (SELECT 1 FROM json_each(metadata, '$.tags') WHERE value = ?)"
        )
        rargs.append(f.tag)
    return where, args, residual, rargs


# Newest first: (created_at, id) is the order of the messages_created, messages_status_created
# and messages_tenant_* indexes, so a page reads `limit` index entries, not the table.
ORDER_NEWEST = " ORDER BY created_at DESC, id DESC"


def list_messages(conn: sqlite3.Connection, f: DashboardFilter) -> MessageSlice:
    """One page of messages. Filters no index serves are applied within a window of
    `f.scan_limit` rows; a page that ends at the window's edge resumes after it."""
    if f.message_id:
        row = conn.execute(SELECT_MESSAGE, (f.message_id,)).fetchone()
        return MessageSlice(items=[rows.message(row)] if row else [], resume=None)
    where, args, residual, rargs = _message_where(f)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    if not residual:
        sql = f"SELECT {rows.MESSAGE_COLUMNS} FROM messages{clause}{ORDER_NEWEST} LIMIT ?"
        items = [rows.message(r) for r in conn.execute(sql, [*args, f.limit])]
        last = items[-1] if len(items) == f.limit else None
        return MessageSlice(items=items, resume=(last.created_at, last.id) if last else None)
    window = f"SELECT * FROM messages{clause}{ORDER_NEWEST} LIMIT ?"
    sql = (
        f"SELECT {rows.MESSAGE_COLUMNS} FROM ({window})"
        f" WHERE {' AND '.join(residual)}{ORDER_NEWEST} LIMIT ?"
    )
    items = [rows.message(r) for r in conn.execute(sql, [*args, f.scan_limit, *rargs, f.limit])]
    if len(items) == f.limit:
        return MessageSlice(items=items, resume=(items[-1].created_at, items[-1].id))
    edge = conn.execute(
        f"SELECT created_at, id FROM messages{clause}{ORDER_NEWEST} LIMIT 1 OFFSET ?",
        [*args, f.scan_limit - 1],
    ).fetchone()
    return MessageSlice(items=items, resume=(edge[0], edge[1]) if edge else None)


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
        OutboxItem(
            message_id=r[0],
            tenant_id=r[1],
            created_at=r[2],
            size_bytes=int(r[3]),
            subject=r[4],
            to=tuple(rows.loads(r[5], [])),
        )
        for r in conn.execute(SELECT_OUTBOX, (at, message_id, limit))
    ]


def outbox_mime(conn: sqlite3.Connection, message_id: str) -> OutboxMime | None:
    row = conn.execute(SELECT_OUTBOX_MIME, (message_id,)).fetchone()
    return OutboxMime(tenant_id=row[0], mime=bytes(row[1])) if row else None


def dead_jobs(conn: sqlite3.Connection, limit: int, before_id: int | None) -> list[DeadJob]:
    return [
        DeadJob(
            id=r[0],
            kind=r[1],
            ref_id=r[2],
            tenant_id=r[3],
            attempts=r[4],
            last_error=r[5],
            updated_at=r[6],
            message_status=r[7],
            subject=r[8],
            to=tuple(rows.loads(r[9], [])),
        )
        for r in conn.execute(SELECT_DEAD_JOBS, (before_id, limit))
    ]


class DashboardVerbs:
    """The `# ---- dashboard` verbs of store/base.py, mixed into SqliteStore."""

    db: Database

    async def dashboard_messages(self, f: DashboardFilter) -> MessageSlice:
        return await self.db.read(lambda c: list_messages(c, f))

    async def dashboard_message(self, message_id: str) -> MessageRecord | None:
        return await self.db.read(lambda c: get_message(c, message_id))

    async def dashboard_tenant_counts(self) -> dict[str, dict[str, int]]:
        return await self.db.read(tenant_counts)

    async def dashboard_status_count(self, status: str, tenant_id: str | None) -> int:
        return await self.db.read(lambda c: status_count(c, status, tenant_id))

    async def dashboard_outbox(
        self, limit: int, before: tuple[str, str] | None = None
    ) -> list[OutboxItem]:
        return await self.db.read(lambda c: list_outbox(c, limit, before))

    async def dashboard_outbox_mime(self, message_id: str) -> OutboxMime | None:
        return await self.db.read(lambda c: outbox_mime(c, message_id))

    async def dashboard_dead_jobs(self, limit: int, before_id: int | None = None) -> list[DeadJob]:
        return await self.db.read(lambda c: dead_jobs(c, limit, before_id))
