"""All SQL of a tenant's outbox (GET/DELETE /v1/outbox). Reads run on a reader,
the delete on the writer; every statement is scoped by tenant_id."""

import sqlite3

from iep_appliance.domain.outbox import OutboxEntry, OutboxFilter
from iep_appliance.store.sqlite import rows
from iep_appliance.store.sqlite.where import Where

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
    where = Where()
    where.add("o.tenant_id = ?", tenant_id)
    if f.to:
        where.add(RECIPIENT, *[f.to.lower()] * 3)
    if f.subject:
        where.add(SUBJECT, f.subject.lower())
    if f.since:
        where.add("o.created_at >= ?", f.since)
    if f.after:
        where.add("(o.created_at, o.message_id) < (?, ?)", *f.after)
    sql = SELECT_ENTRIES.format(where=where.sql())
    return [
        rows.struct_of(
            OutboxEntry,
            r,
            to=tuple(rows.loads(r[5], [])),
            cc=tuple(rows.loads(r[6], [])),
            bcc=tuple(rows.loads(r[7], [])),
        )
        for r in conn.execute(sql, [*where.args, f.limit])
    ]
