"""All SQL for messages, their attachments and events. Runs on the writer thread or a
reader; never awaits. Every statement a tenant's request reaches is scoped by tenant_id."""

import sqlite3
from typing import Any

import msgspec

from iep_appliance.domain.errors import Conflict
from iep_appliance.domain.gdpr import suppression_hash
from iep_appliance.domain.models import (
    PRIORITY_RANK,
    Accepted,
    Event,
    MessageRecord,
    NewMessage,
    Replayed,
    StoredAttachment,
)
from iep_appliance.domain.search import MessageSearch
from iep_appliance.store.sqlite import analytics, rows, search
from iep_appliance.store.sqlite import queues as q_queues

INSERT_MESSAGE = (
    "INSERT INTO messages (id, tenant_id, batch_id, queue, to_addrs, cc_addrs, bcc_addrs,"
    " from_email, from_name, reply_to, subject, html_body, text_body, variables, metadata,"
    " category, status, priority, attempts, max_attempts, idempotency_key, body_hash, sandbox,"
    " scheduled_at, created_at, updated_at, display_names, origin, origin_client, origin_user,"
    " kind, unsubscribe, template_id, template_version, tracking)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?,"
    " ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The client's MIME of a raw_mime message (submitted as MIME), in the accepting transaction.
INSERT_RAW = "INSERT INTO message_raw (message_id, tenant_id, mime) VALUES (?, ?, ?)"
SELECT_RAW = "SELECT message_id, mime FROM message_raw WHERE message_id IN ({})"
# The send job that delivers a message; in a paused queue it waits in 'paused' (queues.py).
INSERT_SEND_JOB = (
    "INSERT INTO jobs (kind, ref_id, tenant_id, priority, run_at, attempts, max_attempts, state,"
    " created_at, updated_at, queue_id) VALUES ('send', ?, ?, ?, ?, 0, ?,"
    " coalesce((SELECT 'paused' FROM queues WHERE id = ? AND state = 'paused'), 'ready'),"
    " ?, ?, ?)"
)
INSERT_EVENT = (
    "INSERT INTO events (message_id, tenant_id, type, payload, created_at) VALUES (?, ?, ?, ?, ?)"
)
INSERT_ATTACHMENT = (
    "INSERT INTO attachments (id, message_id, tenant_id, position, filename, content_type,"
    " size_bytes, storage_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The earlier message with the same idempotency key.
SELECT_BY_IDEMPOTENCY = (
    "SELECT id, status, body_hash FROM messages WHERE tenant_id = ? AND idempotency_key = ?"
)
SELECT_MESSAGE = f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE tenant_id = ? AND id = ?"
SELECT_MESSAGE_ANY_TENANT = f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE id = ?"
SELECT_EVENTS = (
    "SELECT type, created_at, payload FROM events WHERE message_id = ? AND tenant_id = ?"
    " ORDER BY id"
)
SELECT_ATTACHMENTS = (
    "SELECT id, position, filename, content_type, size_bytes, storage_key FROM attachments"
    " WHERE message_id = ? ORDER BY position"
)
# Which of these addresses the tenant suppresses.
SELECT_SUPPRESSED = "SELECT email FROM suppression_list WHERE tenant_id = ? AND email IN ({})"
# Failed → queued again, attempts reset (POST /v1/messages/{id}/retry).
RETRY_MESSAGE = (
    "UPDATE messages SET status = 'queued', attempts = 0, last_error = NULL, rendered_subject ="
    " NULL, rendered_html = NULL, rendered_text = NULL, updated_at = ?"
    " WHERE tenant_id = ? AND id = ? AND status = 'failed'"
)
RESET_SEND_JOB = (
    "UPDATE jobs SET state = 'ready', attempts = 0, run_at = ?, lease_until = NULL,"
    " last_error = NULL, updated_at = ? WHERE kind = 'send' AND ref_id = ?"
)
SELECT_STATUS = "SELECT status FROM messages WHERE tenant_id = ? AND id = ?"


def suppressed_among(conn: sqlite3.Connection, tenant_id: str, emails: list[str]) -> list[str]:
    if not emails:
        return []
    lowered = sorted({e.lower() for e in emails})
    # An address erased under GDPR stays suppressed by its hash alone.
    hashed = {suppression_hash(tenant_id, e): e for e in lowered}
    keys = [*lowered, *hashed]
    sql = SELECT_SUPPRESSED.format(",".join("?" * len(keys)))
    found = {hashed.get(r[0], r[0]) for r in conn.execute(sql, (tenant_id, *keys))}
    return [e for e in emails if e.lower() in found]


def earlier_request(
    conn: sqlite3.Connection,
    select: str,
    tenant_id: str,
    key: str | None,
    body_hash: str | None,
    id_name: str,
) -> tuple[Any, ...] | None:
    """The row of the request that `key` already named (`select` finds it by tenant and key:
    its id, what a replay answers, its body hash), or None. Raises Conflict, naming its id as
    `id_name`, when that request had another body."""
    if key is None:
        return None
    row: tuple[Any, ...] | None = conn.execute(select, (tenant_id, key)).fetchone()
    if row is not None and row[2] != body_hash:
        raise Conflict(
            "Idempotency key was already used with a different request body", {id_name: row[0]}
        )
    return row


def accept_message(
    conn: sqlite3.Connection, tenant_id: str, msg: NewMessage
) -> Accepted | Replayed:
    """Insert message + job + first event in the caller's transaction.

    Raises Conflict when the idempotency key was used with another body."""
    row = earlier_request(
        conn, SELECT_BY_IDEMPOTENCY, tenant_id, msg.idempotency_key, msg.body_hash, "messageId"
    )
    if row is not None:
        return Replayed(message_id=row[0], status=row[1])
    q_queues.check_open(conn, msg.queue_id)
    insert_message(conn, tenant_id, msg)
    recipients = [*msg.to, *msg.cc, *msg.bcc]
    status = "scheduled" if msg.scheduled_at else "queued"
    return Accepted(
        message_id=msg.id,
        status=status,
        suppressed=tuple(suppressed_among(conn, tenant_id, recipients)),
    )


def insert_message(conn: sqlite3.Connection, tenant_id: str, msg: NewMessage) -> None:
    status = "scheduled" if msg.scheduled_at else "queued"
    now = msg.created_at
    conn.execute(
        INSERT_MESSAGE,
        (
            msg.id,
            tenant_id,
            msg.batch_id,
            msg.queue,
            rows.dumps(msg.to),
            rows.dumps(msg.cc),
            rows.dumps(msg.bcc),
            msg.from_email,
            msg.from_name,
            msg.reply_to,
            msg.subject,
            msg.html_body,
            msg.text_body,
            rows.dumps(msg.variables),
            rows.dumps(msg.metadata),
            msg.category,
            status,
            msg.priority,
            msg.max_attempts,
            msg.idempotency_key,
            msg.body_hash,
            int(msg.sandbox),
            msg.scheduled_at,
            now,
            now,
            rows.dumps(msg.display_names),
            msg.origin,
            msg.origin_client,
            msg.origin_user,
            "structured" if msg.raw_mime is None else "raw_mime",
            int(msg.unsubscribe),
            msg.template_id,  # the stored template it came from, and its tracking bits
            msg.template_version,
            msg.tracking,
        ),
    )
    if msg.raw_mime is not None:
        conn.execute(INSERT_RAW, (msg.id, tenant_id, msg.raw_mime))
    priority = msg.job_priority if msg.job_priority is not None else PRIORITY_RANK[msg.priority]
    conn.execute(
        INSERT_SEND_JOB,
        (
            msg.id,
            tenant_id,
            priority,
            msg.scheduled_at or now,
            msg.max_attempts,
            msg.queue_id,
            now,
            now,
            msg.queue_id,
        ),
    )
    payload = '{"sandbox":true}' if msg.sandbox else "{}"
    conn.execute(INSERT_EVENT, (msg.id, tenant_id, status, payload, now))
    analytics.record_accept(conn, tenant_id, status, now, msg.queue, msg.category, msg.metadata)
    if msg.attachments:
        conn.executemany(
            INSERT_ATTACHMENT,
            [
                (
                    a.id,
                    msg.id,
                    tenant_id,
                    a.position,
                    a.filename,
                    a.content_type,
                    a.size_bytes,
                    a.storage_key,
                    now,
                )
                for a in msg.attachments
            ],
        )


def attachments_of(conn: sqlite3.Connection, message_id: str) -> tuple[StoredAttachment, ...]:
    return tuple(StoredAttachment(*r) for r in conn.execute(SELECT_ATTACHMENTS, (message_id,)))


def get_message(
    conn: sqlite3.Connection, tenant_id: str, message_id: str, with_events: bool = True
) -> MessageRecord | None:
    row = conn.execute(SELECT_MESSAGE, (tenant_id, message_id)).fetchone()
    if row is None:
        return None
    events: tuple[Event, ...] = ()
    if with_events:
        events = tuple(
            Event(type=t, timestamp=ts, data=rows.loads(p, {}))
            for t, ts, p in conn.execute(SELECT_EVENTS, (message_id, tenant_id))
        )
    return rows.message(row, attachments_of(conn, message_id), events)


def load_for_send(conn: sqlite3.Connection, message_ids: list[str]) -> dict[str, MessageRecord]:
    """Messages (with attachments) for claimed send jobs, by id."""
    out: dict[str, MessageRecord] = {}
    for i in range(0, len(message_ids), 500):
        chunk = message_ids[i : i + 500]
        sql = (
            f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE id IN "
            f"({','.join('?' * len(chunk))})"
        )
        found = conn.execute(sql, chunk).fetchall()
        with_attachments = set()
        if found:
            att_sql = (
                "SELECT DISTINCT message_id FROM attachments WHERE message_id IN "
                f"({','.join('?' * len(chunk))})"
            )
            with_attachments = {r[0] for r in conn.execute(att_sql, chunk)}
        raw_ids = [row[0] for row in found if row[32] == "raw_mime"]  # kind
        raw: dict[str, bytes] = {}
        if raw_ids:
            sql = SELECT_RAW.format(",".join("?" * len(raw_ids)))
            raw = {r[0]: bytes(r[1]) for r in conn.execute(sql, raw_ids)}
        for row in found:
            atts = attachments_of(conn, row[0]) if row[0] in with_attachments else ()
            record = rows.message(row, atts)
            if row[0] in raw:
                record = msgspec.structs.replace(record, raw_mime=raw[row[0]])
            out[row[0]] = record
    return out


def list_messages(
    conn: sqlite3.Connection, tenant_id: str, f: MessageSearch
) -> list[MessageRecord]:
    """The tenant's messages matching `f` (its own tenant id, whatever `f` says)."""
    return search.page(conn, msgspec.structs.replace(f, tenant_id=tenant_id))


def retry_message(
    conn: sqlite3.Connection, tenant_id: str, message_id: str, now: str
) -> str | None:
    """Failed → queued. Returns the status before (None when the message does not exist)."""
    row = conn.execute(SELECT_STATUS, (tenant_id, message_id)).fetchone()
    if row is None:
        return None
    if row[0] != "failed":
        return str(row[0])
    conn.execute(RETRY_MESSAGE, (now, tenant_id, message_id))
    conn.execute(RESET_SEND_JOB, (now, now, message_id))
    conn.execute(INSERT_EVENT, (message_id, tenant_id, "queued", '{"retry":true}', now))
    analytics.record_status(conn, message_id, "retried", now)  # not a new accept
    return "failed"


def add_event(
    conn: sqlite3.Connection,
    tenant_id: str,
    message_id: str,
    type_: str,
    data: dict[str, Any],
    now: str,
) -> None:
    conn.execute(INSERT_EVENT, (message_id, tenant_id, type_, rows.dumps(data), now))


# Final MIME of the outbox provider.
INSERT_OUTBOX = (
    "INSERT OR REPLACE INTO outbox (message_id, tenant_id, mime, created_at) VALUES (?, ?, ?, ?)"
)
SELECT_OUTBOX = "SELECT mime FROM outbox WHERE tenant_id = ? AND message_id = ?"
LIST_OUTBOX = (
    "SELECT message_id, tenant_id, created_at, length(mime) FROM outbox"
    " ORDER BY created_at DESC LIMIT ?"
)


def save_outbox(
    conn: sqlite3.Connection, tenant_id: str, message_id: str, mime: bytes, now: str
) -> None:
    conn.execute(INSERT_OUTBOX, (message_id, tenant_id, mime, now))


def get_outbox(conn: sqlite3.Connection, tenant_id: str, message_id: str) -> bytes | None:
    row = conn.execute(SELECT_OUTBOX, (tenant_id, message_id)).fetchone()
    return bytes(row[0]) if row else None


# ---- cancellation: scheduled or queued messages whose job has not started -------

# A message and the state of its send job.
SELECT_WITH_JOB = (
    "SELECT m.status, j.state FROM messages m JOIN jobs j ON j.kind = 'send' AND j.ref_id = m.id"
    " WHERE m.tenant_id = ? AND m.id = ?"
)
CANCEL_MESSAGE = (
    "UPDATE messages SET status = 'cancelled', updated_at = ?"
    " WHERE tenant_id = ? AND id = ? AND status IN ('scheduled', 'queued') AND EXISTS"
    " (SELECT 1 FROM jobs WHERE kind = 'send' AND ref_id = messages.id"
    " AND state IN ('ready', 'paused'))"
    " RETURNING sandbox"
)
CANCEL_JOB = (
    "UPDATE jobs SET state = 'done', lease_until = NULL, last_error = 'cancelled', updated_at = ?"
    " WHERE kind = 'send' AND ref_id = ? AND state IN ('ready', 'paused')"
)
CANCELLABLE_STATUSES = ("scheduled", "queued")


def cancel_ids(conn: sqlite3.Connection, tenant_id: str, ids: list[str], now: str) -> int:
    """Cancel those of `ids` not started yet: status, job done, `cancelled` event, rollup."""
    n = 0
    for message_id in ids:
        row = conn.execute(CANCEL_MESSAGE, (now, tenant_id, message_id)).fetchone()
        if row is None:
            continue
        conn.execute(CANCEL_JOB, (now, message_id))
        data = '{"sandbox":true}' if row[0] else "{}"
        conn.execute(INSERT_EVENT, (message_id, tenant_id, "cancelled", data, now))
        analytics.record_status(conn, message_id, "cancelled", now)
        n += 1
    return n


def cancel_message(
    conn: sqlite3.Connection, tenant_id: str, message_id: str, now: str
) -> str | None:
    """Cancel one message that has not started. Returns its status afterwards ('' = not
    found); 'cancelled' when cancelled now or before, else the status that forbids it
    (a queued message whose job is leased reads as 'processing')."""
    row = conn.execute(SELECT_WITH_JOB, (tenant_id, message_id)).fetchone()
    if row is None:
        return None
    status, job_state = row
    if status not in CANCELLABLE_STATUSES:
        return str(status)
    if job_state not in ("ready", "paused"):
        return "processing"
    cancel_ids(conn, tenant_id, [message_id], now)
    return "cancelled"


# A scheduled message not started yet gets a new time, its job the same run_at.
RESCHEDULE_MESSAGE = (
    "UPDATE messages SET scheduled_at = ?, updated_at = ?"
    " WHERE tenant_id = ? AND id = ? AND status = 'scheduled' AND EXISTS"
    " (SELECT 1 FROM jobs WHERE kind = 'send' AND ref_id = messages.id"
    " AND state IN ('ready', 'paused'))"
)
RESCHEDULE_JOB = (
    "UPDATE jobs SET run_at = ?, updated_at = ?"
    " WHERE kind = 'send' AND ref_id = ? AND state IN ('ready', 'paused')"
)


def reschedule_message(
    conn: sqlite3.Connection, tenant_id: str, message_id: str, scheduled_at: str, now: str
) -> str | None:
    """Move one scheduled message that has not started. Returns 'scheduled' when moved, ''
    when not found, else the status that forbids it ('processing' while its job is leased)."""
    row = conn.execute(SELECT_WITH_JOB, (tenant_id, message_id)).fetchone()
    if row is None:
        return None
    status, job_state = row
    if status != "scheduled":
        return str(status)
    if job_state not in ("ready", "paused"):
        return "processing"
    conn.execute(RESCHEDULE_MESSAGE, (scheduled_at, now, tenant_id, message_id))
    conn.execute(RESCHEDULE_JOB, (scheduled_at, now, message_id))
    return "scheduled"
