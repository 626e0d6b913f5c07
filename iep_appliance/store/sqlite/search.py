"""The SQL of a message search (domain/search.py): one WHERE for the tenant API's list and
the dashboard's. Runs on a reader; never awaits."""

import sqlite3

from iep_appliance.domain.models import MessageRecord
from iep_appliance.domain.search import MessageSearch, MessageSlice
from iep_appliance.store.sqlite import rows
from iep_appliance.store.sqlite.where import Where

# An address of to, cc or bcc, whole, lower-cased on both sides.
RECIPIENT = (
    "(EXISTS (SELECT 1 FROM json_each(to_addrs) WHERE lower(value) = ?)"
    " OR EXISTS (SELECT 1 FROM json_each(cc_addrs) WHERE lower(value) = ?)"
    " OR EXISTS (SELECT 1 FROM json_each(bcc_addrs) WHERE lower(value) = ?))"
)
# A subject substring, case-insensitive (instr: no LIKE wildcards to escape).
SUBJECT = "instr(lower(coalesce(rendered_subject, subject)), ?) > 0"
TAG = (
    "json_type(metadata, '$.tags') = 'array' AND EXISTS"
    " (SELECT 1 FROM json_each(metadata, '$.tags') WHERE value = ?)"
)
SELECT_MESSAGE = f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE id = ?"
# Newest first: (created_at, id) is the order of the messages_created, messages_status_created
# and messages_tenant_* indexes, so a page reads `limit` index entries, not the table.
ORDER_NEWEST = " ORDER BY created_at DESC, id DESC"


def indexed(f: MessageSearch) -> Where:
    """The conditions an index serves, with their arguments."""
    where = Where()
    for column, value in (
        ("tenant_id", f.tenant_id),
        ("status", f.status),
        ("batch_id", f.batch_id),
        ("id", f.message_id),
    ):
        if value:
            where.add(f"{column} = ?", value)
    if f.created_from:
        where.add("created_at >= ?", f.created_from)
    if f.created_to:
        where.add("created_at < ?", f.created_to)
    if f.after:
        where.add("(created_at, id) < (?, ?)", *f.after)
    return where


def residual(f: MessageSearch) -> Where:
    """The conditions read row by row (MessageSearch.has_residual)."""
    where = Where()
    if f.recipient:
        where.add(RECIPIENT, *[f.recipient.lower()] * 3)
    if f.subject:
        where.add(SUBJECT, f.subject.lower())
    if f.category:
        where.add("category = ?", f.category)
    if f.queue:
        where.add("queue = ?", f.queue)
    if f.tag:
        where.add(TAG, f.tag)
    return where


def page(conn: sqlite3.Connection, f: MessageSearch) -> list[MessageRecord]:
    """Up to `f.limit` matches after `f.after`, every filter applied (the tenant API)."""
    where = indexed(f)
    where.extend(residual(f))
    sql = f"SELECT {rows.MESSAGE_COLUMNS} FROM messages{where.clause()}{ORDER_NEWEST} LIMIT ?"
    return [rows.message(r) for r in conn.execute(sql, [*where.args, f.limit])]


def window(conn: sqlite3.Connection, f: MessageSearch) -> MessageSlice:
    """One page of the dashboard's list: `f.message_id` alone finds one message of any tenant;
    filters no index serves are applied within a window of `f.scan_limit` rows, and a page
    that ends at the window's edge resumes after it."""
    if f.message_id:
        row = conn.execute(SELECT_MESSAGE, (f.message_id,)).fetchone()
        return MessageSlice(items=[rows.message(row)] if row else [], resume=None)
    where = indexed(f)
    more = residual(f)
    args = where.args
    clause = where.clause()
    if not more.conditions:
        sql = f"SELECT {rows.MESSAGE_COLUMNS} FROM messages{clause}{ORDER_NEWEST} LIMIT ?"
        items = [rows.message(r) for r in conn.execute(sql, [*args, f.limit])]
        last = items[-1] if len(items) == f.limit else None
        return MessageSlice(items=items, resume=(last.created_at, last.id) if last else None)
    scanned = f"SELECT * FROM messages{clause}{ORDER_NEWEST} LIMIT ?"
    sql = f"SELECT {rows.MESSAGE_COLUMNS} FROM ({scanned}){more.clause()}{ORDER_NEWEST} LIMIT ?"
    found = conn.execute(sql, [*args, f.scan_limit, *more.args, f.limit])
    items = [rows.message(r) for r in found]
    if len(items) == f.limit:
        return MessageSlice(items=items, resume=(items[-1].created_at, items[-1].id))
    edge = conn.execute(
        f"SELECT created_at, id FROM messages{clause}{ORDER_NEWEST} LIMIT 1 OFFSET ?",
        [*args, f.scan_limit - 1],
    ).fetchone()
    return MessageSlice(items=items, resume=(edge[0], edge[1]) if edge else None)
