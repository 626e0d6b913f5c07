"""All SQL for batches: accepting one (all its messages in the caller's transaction),
reading its progress, and cancelling what has not started. Runs on the writer thread or a
reader; never awaits. Every statement is scoped by tenant_id."""

import sqlite3
from collections.abc import Sequence

from iep_appliance.domain.models import (
    BatchAccepted,
    BatchRecord,
    BatchReplayed,
    NewBatch,
    NewMessage,
)
from iep_appliance.store.sqlite import messages as q_messages
from iep_appliance.store.sqlite import queues as q_queues
from iep_appliance.store.sqlite import rows

INSERT = (
    "INSERT INTO batches (id, tenant_id, count, queue, scheduled_at, sandbox, idempotency_key,"
    " body_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The earlier batch with the same idempotency key.
SELECT_BY_IDEMPOTENCY = (
    "SELECT id, count, body_hash FROM batches WHERE tenant_id = ? AND idempotency_key = ?"
)
SELECT = (
    "SELECT id, tenant_id, count, queue, scheduled_at, sandbox, created_at FROM batches"
    " WHERE tenant_id = ? AND id = ?"
)
# Progress: the batch's messages by status.
COUNTS = (
    "SELECT status, count(*) FROM messages WHERE batch_id = ? AND tenant_id = ? GROUP BY status"
)
# Which of the batch's addresses the tenant suppresses (one statement for 10,000).
SUPPRESSED = (
    "SELECT email FROM suppression_list WHERE tenant_id = ?"
    " AND email IN (SELECT lower(value) FROM json_each(?))"
)
# The batch's messages that have not started (scheduled or queued, job waiting).
CANCELLABLE = (
    "SELECT m.id FROM messages m JOIN jobs j ON j.kind = 'send' AND j.ref_id = m.id"
    " WHERE m.batch_id = ? AND m.tenant_id = ? AND m.status IN ('scheduled', 'queued')"
    " AND j.state IN ('ready', 'paused')"
)


def accept_batch(
    conn: sqlite3.Connection, tenant_id: str, batch: NewBatch, messages: Sequence[NewMessage]
) -> BatchAccepted | BatchReplayed:
    """The batch row and every message with its job and event, or the earlier batch for a
    replayed idempotency key. Raises Conflict for a reused key with another body, or when
    the queue is draining."""
    row = q_messages.earlier_request(
        conn, SELECT_BY_IDEMPOTENCY, tenant_id, batch.idempotency_key, batch.body_hash, "batchId"
    )
    if row is not None:
        return BatchReplayed(batch_id=row[0], count=row[1])
    q_queues.check_open(conn, batch.queue_id)
    conn.execute(
        INSERT,
        (
            batch.id,
            tenant_id,
            batch.count,
            batch.queue,
            batch.scheduled_at,
            int(batch.sandbox),
            batch.idempotency_key,
            batch.body_hash,
            batch.created_at,
        ),
    )
    everyone: list[str] = []
    for msg in messages:
        q_messages.insert_message(conn, tenant_id, msg)
        everyone.extend(msg.to)
        everyone.extend(msg.cc)
        everyone.extend(msg.bcc)
    found = {r[0] for r in conn.execute(SUPPRESSED, (tenant_id, rows.dumps(everyone)))}
    suppressed = tuple(dict.fromkeys(e for e in everyone if e.lower() in found))
    return BatchAccepted(batch_id=batch.id, count=batch.count, suppressed=suppressed)


def get_batch(conn: sqlite3.Connection, tenant_id: str, batch_id: str) -> BatchRecord | None:
    row = conn.execute(SELECT, (tenant_id, batch_id)).fetchone()
    if row is None:
        return None
    counts = dict(conn.execute(COUNTS, (batch_id, tenant_id)).fetchall())
    return rows.struct_of(BatchRecord, row, sandbox=bool(row[5]), counts=counts)


def cancel_batch(conn: sqlite3.Connection, tenant_id: str, batch_id: str, now: str) -> int | None:
    """Cancel every message of the batch that has not started. None: no such batch."""
    if conn.execute(SELECT, (tenant_id, batch_id)).fetchone() is None:
        return None
    ids = [r[0] for r in conn.execute(CANCELLABLE, (batch_id, tenant_id))]
    return q_messages.cancel_ids(conn, tenant_id, ids, now)
