"""All SQL of a tenant's outbox (GET/DELETE /v1/outbox). Reads run on a reader,
the delete on the writer; every statement is scoped by tenant_id."""

import sqlite3
from typing import Any

from iep_appliance.domain.outbox import OutboxEntry, OutboxFilter
from iep_appliance.store.sqlite import rows

# One tenant's outbox joined to its messages, newest first (index outbox_tenant).
SELECT_ENTRIES = (
    "SELECT o.message_id, o.created_at, length(o.mime),"
    " coalesce(m.rendered_subject, m.subject, ''), coalesce(m.from_email, ''),"
    " coalesce(m.to_addrs, '[]'), coalesce(m.cc_addrs, '[]'), coalesce(m.bcc_addrs, '[]')"
    " FROM outbox o LEFT JOIN messages m ON m.id = o.message_id AND m.tenant_id = o.tenant_id"
    " WHERE {where} ORDER BY o.created_at DESC, o.message_id DESC LIMIT ?"
)
# A recipient in any of to, cc, bcc (compared lower-cased).
RECIPIENT = (
    "(EXISTS (SELECT 1 FROM json_each(m.to_addrs) WHERE lower(value) = ?)"
    " OR EXISTS (SELECT 1 FROM json_each(m.cc_addrs) WHERE lower(value) = ?)"
    " OR EXISTS (SELECT 1 FROM json_each(m.bcc_addrs) WHERE lower(value) = ?))"
)
# A subject substring, case-insensitive (instr: no LIKE wildcards to escape).
SUBJECT = "instr(lower(coalesce(m.rendered_subject, m.subject, '')), ?) > 0"
DELETE_TENANT_OUTBOX = "DELETE FROM outbox WHERE tenant_id = ?"


def entries(conn: sqlite3.Connection, tenant_id: str, f: OutboxFilter) -> list[OutboxEntry]:
    where = ["o.tenant_id = ?"]
    args: list[Any] = [tenant_id]
    if f.to:
        where.append(RECIPIENT)
        args.extend([f.to.lower()] * 3)
    if f.subject:
        where.append(SUBJECT)
        args.append(f.subject.lower())
    if f.since:
        where.append("o.created_at >= ?")
        args.append(f.since)
    if f.after:
        where.append("(o.created_at, o.message_id) < (?, ?)")
        args.extend(f.after)
    sql = SELECT_ENTRIES.format(where=" AND ".join(where))
    return [
        OutboxEntry(
            message_id=r[0],
            created_at=r[1],
            size_bytes=r[2],
            subject=r[3],
            from_email=r[4],
            to=tuple(rows.loads(r[5], [])),
            cc=tuple(rows.loads(r[6], [])),
            bcc=tuple(rows.loads(r[7], [])),
        )
        for r in conn.execute(sql, [*args, f.limit])
    ]
