"""All SQL of the retention purge. Runs on the writer (one small step per call) or a
reader (the dry-run plan); never awaits.

A step scans at most `limit` rows along an index, from a keyset position, and deletes only what
is out of its window: finished messages (DESIGN §3 statuses sent/failed/bounced/cancelled)
with no live job, with their events, jobs, attachments, outbox copy and webhook attempts; or
attachment rows of finished messages. Blob files are deleted by the caller after the commit,
and only when no row still refers to them (so a crash leaves a stray file, never a row that
points at a missing one). Analytics rollups (stats_hourly) are aggregates and stay.
"""

import sqlite3

from iep_appliance.domain.retention import (
    ATTACHMENTS_DROPPABLE,
    FINISHED_STATUSES,
    PurgePlan,
    PurgeStep,
    empty_counts,
)

_FINISHED = "(" + ", ".join(f"'{s}'" for s in FINISHED_STATUSES) + ")"
_DROPPABLE = "(" + ", ".join(f"'{s}'" for s in ATTACHMENTS_DROPPABLE) + ")"
_LIVE_JOB = "('ready', 'leased', 'paused')"

# A page of one tenant's messages created before the cutoff, oldest first
# (index messages_tenant_created).
SCAN_MESSAGES = (
    "SELECT id, created_at, status, updated_at, batch_id FROM messages"
    " WHERE tenant_id = ? AND created_at < ? AND (created_at, id) > (?, ?)"
    " ORDER BY created_at, id LIMIT ?"
)
SELECT_TENANT_IDS = "SELECT id FROM tenants ORDER BY id"
# Which of these messages still have a job to run (index jobs_ref).
LIVE_JOBS_OF = "SELECT DISTINCT ref_id FROM jobs WHERE state IN " + _LIVE_JOB + " AND ref_id IN "
DELETE_EVENTS_OF = "DELETE FROM events WHERE message_id IN "
DELETE_JOBS_OF = "DELETE FROM jobs WHERE kind = 'send' AND ref_id IN "
DELETE_OUTBOX_OF = "DELETE FROM outbox WHERE message_id IN "
# The client's MIME of raw_mime messages (submitted as MIME).
DELETE_RAW_OF = "DELETE FROM message_raw WHERE message_id IN "
DELETE_DELIVERIES_OF = "DELETE FROM webhook_deliveries WHERE message_id IN "
DELETE_ATTACHMENTS_OF = "DELETE FROM attachments WHERE message_id IN "
ATTACHMENT_KEYS_OF = "SELECT DISTINCT storage_key FROM attachments WHERE message_id IN "
DELETE_MESSAGES = "DELETE FROM messages WHERE id IN "
# A batch row goes with its last message.
DELETE_EMPTY_BATCH = (
    "DELETE FROM batches WHERE id = ? AND NOT EXISTS (SELECT 1 FROM messages WHERE batch_id = ?)"
)
# Is a blob file still referred to (index attachments_storage_key)?
KEY_IN_USE = "SELECT 1 FROM attachments WHERE storage_key = ? LIMIT 1"
# A page of attachments uploaded before the cutoff, oldest first (index attachments_created),
# with their message's status.
SCAN_ATTACHMENTS = (
    "SELECT a.id, a.created_at, a.storage_key, m.status FROM attachments a"
    " JOIN messages m ON m.id = a.message_id"
    " WHERE a.created_at < ? AND (a.created_at, a.id) > (?, ?)"
    " ORDER BY a.created_at, a.id LIMIT ?"
)
DELETE_ATTACHMENTS = "DELETE FROM attachments WHERE id IN "
# Finished webhook jobs (ref_id is the endpoint, not the message) past the window, along the
# jobs_due index (state, priority 1, run_at).
OLD_WEBHOOK_JOBS = (
    "SELECT id FROM jobs WHERE state = ? AND priority = 1 AND run_at < ? AND kind = 'webhook'"
    " AND updated_at < ? LIMIT ?"
)
DELETE_JOBS = "DELETE FROM jobs WHERE id IN "

# The dry run: the same predicates over the whole table, counted.
_CANDIDATES = (
    "SELECT id FROM messages m WHERE created_at < :cut AND updated_at < :cut"
    " AND status IN " + _FINISHED + " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.ref_id = m.id"
    " AND j.state IN " + _LIVE_JOB + ")"
)
PLAN_MESSAGES = (
    "SELECT count(*), min(created_at), max(created_at) FROM messages m"
    " WHERE created_at < :cut AND updated_at < :cut AND status IN " + _FINISHED + ""
    " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.ref_id = m.id AND j.state IN " + _LIVE_JOB + ")"
)
PLAN_EVENTS = "SELECT count(*) FROM events WHERE message_id IN (" + _CANDIDATES + ")"
PLAN_SEND_JOBS = "SELECT count(*) FROM jobs WHERE kind = 'send' AND ref_id IN (" + _CANDIDATES + ")"
PLAN_WEBHOOK_JOBS = (
    "SELECT count(*) FROM jobs WHERE kind = 'webhook' AND state IN ('done', 'dead')"
    " AND updated_at < :cut"
)
PLAN_OUTBOX = "SELECT count(*) FROM outbox WHERE message_id IN (" + _CANDIDATES + ")"
PLAN_DELIVERIES = (
    "SELECT count(*) FROM webhook_deliveries WHERE message_id IN (" + _CANDIDATES + ")"
)
PLAN_BATCHES = (
    "SELECT count(*) FROM batches b WHERE EXISTS (SELECT 1 FROM messages m WHERE m.batch_id = b.id)"
    " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.batch_id = b.id AND m.id NOT IN ("
    + _CANDIDATES
    + "))"
)
# Attachment rows that go: those of purged messages, plus old ones of finished messages.
_GOING_ATTACHMENTS = (
    "SELECT a.id, a.storage_key FROM attachments a JOIN messages m ON m.id = a.message_id"
    " WHERE a.message_id IN (" + _CANDIDATES + ")"
    " OR (:acut IS NOT NULL AND a.created_at < :acut AND m.status IN " + _DROPPABLE + ")"
)
PLAN_ATTACHMENTS = "SELECT count(*), count(DISTINCT storage_key) FROM (" + _GOING_ATTACHMENTS + ")"
# Of the files those rows use, the ones some staying row still refers to.
PLAN_FILES_KEPT = (
    "SELECT count(DISTINCT a.storage_key) FROM attachments a"
    " WHERE a.storage_key IN (SELECT storage_key FROM (" + _GOING_ATTACHMENTS + "))"
    " AND a.id NOT IN (SELECT id FROM (" + _GOING_ATTACHMENTS + "))"
)


def _marks(n: int) -> str:
    return "(" + ",".join("?" * n) + ")"


def tenant_ids(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute(SELECT_TENANT_IDS)]


def purge_messages(
    conn: sqlite3.Connection,
    tenant_id: str,
    cut: str,
    after: tuple[str, str] | None,
    limit: int,
) -> PurgeStep:
    """Scan up to `limit` of a tenant's messages created before `cut` (from `after`) and delete
    the finished ones whose last change is before `cut` and that have no live job."""
    start = after or ("", "")
    rows = conn.execute(SCAN_MESSAGES, (tenant_id, cut, start[0], start[1], limit)).fetchall()
    counts = empty_counts()
    if not rows:
        return PurgeStep(counts, after, True)
    last = (rows[-1][1], rows[-1][0])
    going = [r for r in rows if r[2] in FINISHED_STATUSES and r[3] < cut]
    if going:
        marks = _marks(len(going))
        ids = [r[0] for r in going]
        live = {r[0] for r in conn.execute(LIVE_JOBS_OF + marks, ids)}
        if live:
            going = [r for r in going if r[0] not in live]
            ids = [r[0] for r in going]
            marks = _marks(len(ids))
    if going:
        keys = [r[0] for r in conn.execute(ATTACHMENT_KEYS_OF + marks, ids)]
        counts["events"] = conn.execute(DELETE_EVENTS_OF + marks, ids).rowcount
        counts["jobs"] = conn.execute(DELETE_JOBS_OF + marks, ids).rowcount
        counts["outbox"] = conn.execute(DELETE_OUTBOX_OF + marks, ids).rowcount
        conn.execute(DELETE_RAW_OF + marks, ids)
        counts["webhook_deliveries"] = conn.execute(DELETE_DELIVERIES_OF + marks, ids).rowcount
        counts["attachments"] = conn.execute(DELETE_ATTACHMENTS_OF + marks, ids).rowcount
        counts["messages"] = conn.execute(DELETE_MESSAGES + marks, ids).rowcount
        for batch_id in {r[4] for r in going if r[4]}:
            counts["batches"] += conn.execute(DELETE_EMPTY_BATCH, (batch_id, batch_id)).rowcount
        orphans = _orphans(conn, keys)
        counts["attachment_files"] = len(orphans)
        return PurgeStep(counts, last, len(rows) < limit, orphans)
    return PurgeStep(counts, last, len(rows) < limit)


def purge_attachments(
    conn: sqlite3.Connection, cut: str, after: tuple[str, str] | None, limit: int
) -> PurgeStep:
    """Scan up to `limit` attachments uploaded before `cut` and delete those of messages that
    were sent, bounced or cancelled (the message stays; a failed one keeps its files)."""
    start = after or ("", "")
    rows = conn.execute(SCAN_ATTACHMENTS, (cut, start[0], start[1], limit)).fetchall()
    counts = empty_counts()
    if not rows:
        return PurgeStep(counts, after, True)
    last = (rows[-1][1], rows[-1][0])
    going = [r for r in rows if r[3] in ATTACHMENTS_DROPPABLE]
    orphans: tuple[str, ...] = ()
    if going:
        ids = [r[0] for r in going]
        counts["attachments"] = conn.execute(DELETE_ATTACHMENTS + _marks(len(ids)), ids).rowcount
        orphans = _orphans(conn, list({r[2] for r in going}))
        counts["attachment_files"] = len(orphans)
    return PurgeStep(counts, last, len(rows) < limit, orphans)


def purge_webhook_jobs(conn: sqlite3.Connection, cut: str, limit: int) -> PurgeStep:
    """Delete up to `limit` finished webhook jobs last changed before `cut`."""
    counts = empty_counts()
    ids: list[int] = []
    for state in ("done", "dead"):
        left = limit - len(ids)
        if left > 0:
            ids += [r[0] for r in conn.execute(OLD_WEBHOOK_JOBS, (state, cut, cut, left))]
    if ids:
        counts["jobs"] = conn.execute(DELETE_JOBS + _marks(len(ids)), ids).rowcount
    return PurgeStep(counts, None, len(ids) < limit)


def _orphans(conn: sqlite3.Connection, keys: list[str]) -> tuple[str, ...]:
    return tuple(k for k in keys if conn.execute(KEY_IN_USE, (k,)).fetchone() is None)


def plan(conn: sqlite3.Connection, cut: str | None, acut: str | None) -> PurgePlan:
    """Count what a purge with these cutoffs would remove (read-only)."""
    counts = empty_counts()
    oldest = newest = None
    # A cutoff before any timestamp selects nothing: the message window is off.
    args = {"cut": cut or "", "acut": acut}
    if cut is not None:
        n, oldest, newest = conn.execute(PLAN_MESSAGES, args).fetchone()
        counts["messages"] = n
        counts["events"] = conn.execute(PLAN_EVENTS, args).fetchone()[0]
        counts["jobs"] = (
            conn.execute(PLAN_SEND_JOBS, args).fetchone()[0]
            + conn.execute(PLAN_WEBHOOK_JOBS, args).fetchone()[0]
        )
        counts["outbox"] = conn.execute(PLAN_OUTBOX, args).fetchone()[0]
        counts["webhook_deliveries"] = conn.execute(PLAN_DELIVERIES, args).fetchone()[0]
        counts["batches"] = conn.execute(PLAN_BATCHES, args).fetchone()[0]
    rows, files = conn.execute(PLAN_ATTACHMENTS, args).fetchone()
    counts["attachments"] = rows
    counts["attachment_files"] = files - conn.execute(PLAN_FILES_KEPT, args).fetchone()[0]
    return PurgePlan(counts, cut, acut, oldest, newest)
