"""All SQL for the durable job queue and the completion of send attempts.

Runs on the writer thread (claims and completions are writes). A claim leases due jobs
in one `UPDATE … RETURNING`; a completion records job state, message status, events,
bounce counting and webhook jobs in the same transaction.
"""

import sqlite3
from typing import Any

from iep_appliance.domain.bounces import suppresses
from iep_appliance.domain.models import Completion, Job
from iep_appliance.domain.webhooks import fan_out
from iep_appliance.store.sqlite import analytics, rows
from iep_appliance.store.sqlite import queues as q_queues
from iep_appliance.store.sqlite.messages import INSERT_EVENT

# A due job whose queue (if any) is not paused. (A paused queue's jobs wait in the state
# 'paused'; this only guards the few made ready again by a retry or a released lease.)
_DUE = (
    "SELECT id FROM jobs WHERE state = 'ready' AND run_at <= :now AND (queue_id IS NULL"
    " OR queue_id NOT IN (SELECT id FROM queues WHERE state = 'paused'))"
)
_LEASE = (
    "UPDATE jobs SET state = 'leased', lease_until = :until, attempts = attempts + 1,"
    " lease_owner = :owner, updated_at = :now WHERE id IN "
)
# Lease the next due jobs: rank first (see domain/queues.py), then age.
CLAIM = (
    f"{_LEASE}(SELECT id FROM ({_DUE} ORDER BY priority, run_at, id LIMIT :strict))"
    f" RETURNING {rows.JOB_COLUMNS}"
)
# The same plus the fair-share lane: :lane jobs at rank >= :cursor, else (wrapping) the
# ones right after the strict part's. Every part walks the jobs_due index; no sort.
CLAIM_FAIR = (
    f"{_LEASE}(SELECT id FROM ({_DUE} ORDER BY priority, run_at, id LIMIT :strict)"
    " UNION SELECT id FROM ("
    f"SELECT id FROM ({_DUE} AND priority >= :cursor ORDER BY priority, run_at, id LIMIT :lane)"
    f" UNION ALL SELECT id FROM ({_DUE} AND priority < :cursor"
    " ORDER BY priority, run_at, id LIMIT :lane OFFSET :strict) LIMIT :lane))"
    f" RETURNING {rows.JOB_COLUMNS}"
)
# Claimed send jobs move their message to `processing`.
MARK_PROCESSING = (
    "UPDATE messages SET status = 'processing', attempts = ?, updated_at = ? WHERE id = ?"
    " RETURNING status"
)
SELECT_STATUS_SANDBOX = "SELECT status, sandbox FROM messages WHERE id = ?"
# Give back leases: on a single node at start every lease is stale.
RELEASE_ALL = (
    "UPDATE jobs SET state = 'ready', lease_until = NULL, updated_at = ? WHERE state = 'leased'"
)
RELEASE_EXPIRED = (
    "UPDATE jobs SET state = 'ready', lease_until = NULL, updated_at = ?"
    " WHERE state = 'leased' AND lease_until < ? AND id NOT IN (SELECT value FROM json_each(?))"
)
# Unstarted claims handed back at shutdown do not count as attempts.
RELEASE_ONE = (
    "UPDATE jobs SET state = 'ready', lease_until = NULL, attempts = max(attempts - 1, 0),"
    " updated_at = ? WHERE id = ? AND state = 'leased'"
)
UNMARK_PROCESSING = (
    "UPDATE messages SET status = 'queued', attempts = max(attempts - 1, 0), updated_at = ?"
    " WHERE id = ? AND status = 'processing' RETURNING id, tenant_id, sandbox"
)
# Processing messages whose lease was released go back to queued (each gets a `queued` event).
REQUEUE_PROCESSING = (
    "UPDATE messages SET status = 'queued', updated_at = ? WHERE status = 'processing' AND id IN"
    " (SELECT ref_id FROM jobs WHERE kind = 'send' AND state = 'ready')"
    " RETURNING id, tenant_id, sandbox"
)
NEXT_RUN_AT = "SELECT min(run_at) FROM jobs WHERE state = 'ready'"
JOB_DONE = "UPDATE jobs SET state = 'done', lease_until = NULL, updated_at = ? WHERE id = ?"
JOB_DEAD = (
    "UPDATE jobs SET state = 'dead', lease_until = NULL, last_error = ?, updated_at = ?"
    " WHERE id = ?"
)
JOB_RETRY = (
    "UPDATE jobs SET state = 'ready', lease_until = NULL, run_at = ?, last_error = ?,"
    " updated_at = ? WHERE id = ?"
)
# Deferred (every route's breaker open): back to ready at the trial time, attempt given back.
JOB_DEFER = (
    "UPDATE jobs SET state = 'ready', lease_until = NULL, run_at = ?, last_error = ?,"
    " attempts = max(attempts - 1, 0), updated_at = ? WHERE id = ?"
)
FINISH_MESSAGE = (
    "UPDATE messages SET status = ?, attempts = ?, provider = coalesce(?, provider),"
    " last_error = ?, sent_at = coalesce(?, sent_at), updated_at = ? WHERE id = ?"
)
# The same with the rendered copy: one rewrite of the (large) row, not two.
FINISH_MESSAGE_RENDERED = (
    "UPDATE messages SET status = ?, attempts = ?, provider = coalesce(?, provider),"
    " last_error = ?, sent_at = coalesce(?, sent_at), updated_at = ?,"
    " rendered_subject = ?, rendered_html = ?, rendered_text = ? WHERE id = ?"
)
COUNT_BOUNCE = (
    "INSERT INTO bounce_counts (tenant_id, email, count, updated_at) VALUES (?, ?, 1, ?)"
    " ON CONFLICT (tenant_id, email) DO UPDATE SET count = count + 1,"
    " updated_at = excluded.updated_at RETURNING count"
)
SUPPRESS = (
    "INSERT OR IGNORE INTO suppression_list (tenant_id, email, reason, source_message_id,"
    " created_at) VALUES (?, ?, ?, ?, ?)"
)
# Active endpoints of a tenant (which of them want an event is domain/webhooks.py's rule).
SELECT_ENDPOINTS = "SELECT id, events FROM webhook_endpoints WHERE tenant_id = ? AND active = 1"
INSERT_WEBHOOK_JOB = (
    "INSERT INTO jobs (kind, ref_id, tenant_id, priority, run_at, attempts, max_attempts, state,"
    " payload, created_at, updated_at) VALUES ('webhook', ?, ?, 1, ?, 0, ?, 'ready', ?, ?, ?)"
)
DEPTH = "SELECT state, count(*) FROM jobs WHERE kind = ? GROUP BY state"
OLDEST_READY = (
    "SELECT min(run_at) FROM jobs WHERE state = 'ready' AND kind = 'send' AND run_at <= ?"
)
# Send jobs due now (the backlog the senders are behind on; future retries not counted).
COUNT_DUE = "SELECT count(*) FROM jobs WHERE state = 'ready' AND kind = 'send' AND run_at <= ?"


def claim_due(
    conn: sqlite3.Connection,
    now: str,
    lease_until: str,
    limit: int,
    lane: int = 0,
    lane_from: int = 0,
    hold_queues: tuple[str, ...] = (),
    hold_until: str | None = None,
    owner: str | None = None,
) -> list[Job]:
    """Lease up to `limit` due jobs: `lane` of them from rank `lane_from` on (wrapping to the
    top), the rest strictly by rank. First the due jobs of `hold_queues` (over their rate)
    wait until `hold_until`; jobs of paused queues are never claimed, and when the claim
    comes back short, ready ones of paused queues are parked (else they would look due)."""
    for queue_id in hold_queues:
        q_queues.hold(conn, queue_id, hold_until or now, now)
    args = {
        "until": lease_until,
        "now": now,
        "strict": max(0, limit - lane),
        "lane": lane,
        "cursor": lane_from,
        "owner": owner,  # the worker or node holding the lease
    }
    jobs = [rows.job(r) for r in conn.execute(CLAIM_FAIR if lane else CLAIM, args)]
    if len(jobs) < limit:
        q_queues.park_stragglers(conn, now)
    jobs.sort(key=lambda j: (j.priority, j.run_at, j.id))
    for job in jobs:
        if job.kind != "send":
            continue
        before = conn.execute(SELECT_STATUS_SANDBOX, (job.ref_id,)).fetchone()
        if before is None:
            continue
        data = '{"sandbox":true}' if before[1] else "{}"
        if before[0] == "scheduled":
            conn.execute(INSERT_EVENT, (job.ref_id, job.tenant_id, "queued", data, now))
        conn.execute(MARK_PROCESSING, (job.attempts, now, job.ref_id))
        conn.execute(INSERT_EVENT, (job.ref_id, job.tenant_id, "processing", data, now))
    return jobs


def bury(conn: sqlite3.Connection, job_id: int, error: str, now: str) -> None:
    conn.execute(JOB_DEAD, (error, now, job_id))


# A crashed attempt (fail_job): only the job and message rows and one or two events.
MESSAGE_RETRY_AFTER_CRASH = (
    "UPDATE messages SET status = 'queued', last_error = ?, updated_at = ?"
    " WHERE id = ? AND status IN ('queued', 'processing') RETURNING sandbox"
)
MESSAGE_FAILED_AFTER_CRASH = (
    "UPDATE messages SET status = 'failed', last_error = ?, updated_at = ?"
    " WHERE id = ? AND status IN ('queued', 'processing') RETURNING sandbox"
)


def fail(conn: sqlite3.Connection, job: Job, error: str, retry_at: str | None, now: str) -> None:
    """A crashed attempt: the job ready at `retry_at` or dead, its send message to match."""
    if retry_at is not None:
        conn.execute(JOB_RETRY, (retry_at, error, now, job.id))
    else:
        conn.execute(JOB_DEAD, (error, now, job.id))
    if job.kind != "send":
        return
    info: dict[str, Any] = {"attempt": job.attempts, "error": error}
    if retry_at is not None:
        row = conn.execute(MESSAGE_RETRY_AFTER_CRASH, (error, now, job.ref_id)).fetchone()
        types = [("retry_scheduled", {**info, "retryAt": retry_at})]
    else:
        row = conn.execute(MESSAGE_FAILED_AFTER_CRASH, (error, now, job.ref_id)).fetchone()
        types = [("failed", info), ("dlq", info)]
    if row is None:
        return
    if row[0]:
        types = [(t, {**data, "sandbox": True}) for t, data in types]
    for type_, data in types:
        conn.execute(INSERT_EVENT, (job.ref_id, job.tenant_id, type_, rows.dumps(data), now))
    analytics.record_finish(conn, job.ref_id, "queued" if retry_at else "failed", now)


def release_all(conn: sqlite3.Connection, now: str) -> int:
    n = conn.execute(RELEASE_ALL, (now,)).rowcount
    _requeued_events(conn, conn.execute(REQUEUE_PROCESSING, (now,)).fetchall(), now)
    return n


def release_expired(conn: sqlite3.Connection, now: str, keep: list[int] | None = None) -> int:
    """Expired leases back to ready, except the jobs in `keep` (still in hand on this node)."""
    n = conn.execute(RELEASE_EXPIRED, (now, now, rows.dumps(keep or []))).rowcount
    if n:
        _requeued_events(conn, conn.execute(REQUEUE_PROCESSING, (now,)).fetchall(), now)
    return n


def release(conn: sqlite3.Connection, jobs: list[Job], now: str) -> None:
    for job in jobs:
        if conn.execute(RELEASE_ONE, (now, job.id)).rowcount and job.kind == "send":
            requeued = conn.execute(UNMARK_PROCESSING, (now, job.ref_id)).fetchall()
            _requeued_events(conn, requeued, now)


def _requeued_events(conn: sqlite3.Connection, requeued: list[Any], now: str) -> None:
    """processing → queued is a status change: one `queued` event per message (DESIGN §3)."""
    for message_id, tenant_id, sandbox in requeued:
        data = '{"released":true,"sandbox":true}' if sandbox else '{"released":true}'
        conn.execute(INSERT_EVENT, (message_id, tenant_id, "queued", data, now))


def next_run_at(conn: sqlite3.Connection) -> str | None:
    value: str | None = conn.execute(NEXT_RUN_AT).fetchone()[0]
    return value


def depth(conn: sqlite3.Connection, kind: str = "send") -> dict[str, int]:
    return dict(conn.execute(DEPTH, (kind,)).fetchall())


def oldest_ready(conn: sqlite3.Connection, now: str) -> str | None:
    value: str | None = conn.execute(OLDEST_READY, (now,)).fetchone()[0]
    return value


def count_due(conn: sqlite3.Connection, now: str) -> int:
    return int(conn.execute(COUNT_DUE, (now,)).fetchone()[0])


def finish_send(conn: sqlite3.Connection, c: Completion, now: str, webhook_attempts: int) -> None:
    """Record one send attempt's outcome: job, message, events, bounces, webhook jobs."""
    if c.deferred:
        conn.execute(JOB_DEFER, (c.retry_at, c.error, now, c.job_id))
    elif c.status == "queued":
        conn.execute(JOB_RETRY, (c.retry_at, c.error, now, c.job_id))
    elif c.dead:
        conn.execute(JOB_DEAD, (c.error, now, c.job_id))
    else:
        conn.execute(JOB_DONE, (now, c.job_id))
    head = (c.status, c.attempts, c.provider, c.error, c.sent_at, now)
    if c.rendered is None:
        conn.execute(FINISH_MESSAGE, (*head, c.message_id))
    else:
        conn.execute(FINISH_MESSAGE_RENDERED, (*head, *c.rendered, c.message_id))
    if not c.deferred:  # a deferral is no attempt: analytics counts nothing for it
        analytics.record_finish(conn, c.message_id, c.status, now)
    for type_, data in c.events:
        conn.execute(INSERT_EVENT, (c.message_id, c.tenant_id, type_, rows.dumps(data), now))
    for email in c.hard_bounces:
        count_hard_bounce(conn, c.tenant_id, email, c.message_id, now)
    if c.webhook_event:
        enqueue_webhooks(
            conn, c.tenant_id, c.message_id, c.webhook_event, c.webhook_data, now, webhook_attempts
        )


def count_hard_bounce(
    conn: sqlite3.Connection, tenant_id: str, email: str, message_id: str, now: str
) -> bool:
    """Count one hard bounce; suppress the address when domain/bounces.py says the count
    does. True when it did."""
    key = email.lower()
    count = conn.execute(COUNT_BOUNCE, (tenant_id, key, now)).fetchone()[0]
    if suppresses(count):
        return (
            conn.execute(SUPPRESS, (tenant_id, key, "hard_bounce", message_id, now)).rowcount == 1
        )
    return False


def enqueue_webhooks(
    conn: sqlite3.Connection,
    tenant_id: str,
    message_id: str | None,
    event: str,
    data: dict[str, Any],
    now: str,
    max_attempts: int,
) -> int:
    """One webhook job per active endpoint subscribed to `event` (domain/webhooks.py's
    fan-out), in the caller's transaction. Returns how many."""
    endpoints = [
        (endpoint_id, rows.loads(events, []))
        for endpoint_id, events in conn.execute(SELECT_ENDPOINTS, (tenant_id,))
    ]
    jobs = fan_out(endpoints, event, message_id, data, now)
    for endpoint_id, payload in jobs:
        conn.execute(
            INSERT_WEBHOOK_JOB,
            (endpoint_id, tenant_id, now, max_attempts, rows.dumps(payload), now, now),
        )
    return len(jobs)
