"""All SQL for named queues: the queue rows, their jobs' pause/resume/rank/hold, and stats.

Runs on the writer thread or a reader; never awaits. Every statement a tenant's request
reaches is scoped by tenant_id. Jobs of a paused queue wait in the job state 'paused', so
the claim (store/sqlite/jobs.py) never steps over them.
"""

import sqlite3
from typing import Any

from iep_appliance.domain import queues as rules
from iep_appliance.domain.errors import Conflict, FieldError, ValidationFailed
from iep_appliance.domain.models import DEFAULT_QUEUE, Queue, QueueStats
from iep_appliance.store.sqlite import rows

COLUMNS = (
    "id, tenant_id, name, priority, rate_per_minute, retry_schedule, state, created_at, updated_at"
)
INSERT = (
    "INSERT INTO queues (id, tenant_id, name, priority, rate_per_minute, retry_schedule, state,"
    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?)"
)
# The default queue, created on first use (a no-op when it exists).
INSERT_DEFAULT = (
    "INSERT OR IGNORE INTO queues (id, tenant_id, name, priority, state, created_at, updated_at)"
    f" VALUES (?, ?, '{DEFAULT_QUEUE}', {rules.DEFAULT_PRIORITY}, 'active', ?, ?)"
)
SELECT_BY_ID = f"SELECT {COLUMNS} FROM queues WHERE tenant_id = ? AND id = ?"
SELECT_BY_NAME = f"SELECT {COLUMNS} FROM queues WHERE tenant_id = ? AND name = ?"
# A page of a tenant's queues by name, after the last name seen.
LIST = f"SELECT {COLUMNS} FROM queues WHERE tenant_id = ? AND name > ? ORDER BY name LIMIT ?"
# Every queue with a rate limit or a retry override (the delivery engine's view).
LIST_TUNED = (
    f"SELECT {COLUMNS} FROM queues WHERE rate_per_minute IS NOT NULL OR retry_schedule IS NOT NULL"
)
UPDATE = (
    "UPDATE queues SET priority = ?, rate_per_minute = ?, retry_schedule = ?, updated_at = ?"
    " WHERE tenant_id = ? AND id = ?"
)
SET_STATE = "UPDATE queues SET state = ?, updated_at = ? WHERE tenant_id = ? AND id = ?"
DELETE = "DELETE FROM queues WHERE tenant_id = ? AND id = ?"
SELECT_STATE = "SELECT name, state FROM queues WHERE id = ?"
# Jobs of a paused queue leave the claim's path, and come back on resume.
PAUSE_JOBS = (
    "UPDATE jobs SET state = 'paused', updated_at = ? WHERE queue_id = ? AND state = 'ready'"
)
RESUME_JOBS = (
    "UPDATE jobs SET state = 'ready', updated_at = ? WHERE queue_id = ? AND state = 'paused'"
)
# A new queue priority re-ranks the queue's waiting jobs (message priority kept).
RERANK_JOBS = (
    f"UPDATE jobs SET priority = {rules.rerank_sql_expression()}"
    " WHERE queue_id = ? AND state IN ('ready', 'paused')"
)
# A throttled queue's due backlog waits for its next rate window.
HOLD_JOBS = (
    "UPDATE jobs SET run_at = ?, updated_at = ? WHERE queue_id = ? AND state = 'ready'"
    " AND run_at < ?"
)
# Jobs made ready again (retry, released lease) while their queue is paused.
PARK_STRAGGLERS = (
    "UPDATE jobs SET state = 'paused', updated_at = ? WHERE state = 'ready'"
    " AND queue_id IN (SELECT id FROM queues WHERE state = 'paused')"
)
SET_RUN_AT = "UPDATE jobs SET run_at = ? WHERE id = ? AND state = 'ready'"
PENDING = "SELECT count(*) FROM jobs WHERE queue_id = ? AND state IN ('ready', 'leased', 'paused')"
DEPTH = (
    "SELECT state, run_at <= ?, count(*) FROM jobs WHERE queue_id = ?"
    " AND state IN ('ready', 'leased', 'paused') GROUP BY 1, 2"
)
# The longest-waiting due job (a paused queue's jobs wait too).
OLDEST_DUE = (
    "SELECT min(run_at) FROM jobs WHERE queue_id = ? AND state IN ('ready', 'paused')"
    " AND run_at <= ?"
)
# Outcomes of the queue's messages whose send job finished since ?.
LAST_HOUR = (
    "SELECT m.status, count(*) FROM jobs j JOIN messages m ON m.id = j.ref_id"
    " WHERE j.queue_id = ? AND j.state IN ('done', 'dead') AND j.updated_at >= ?"
    " GROUP BY m.status"
)


def queue(row: tuple[Any, ...]) -> Queue:
    schedule = rows.loads(row[5])
    return rows.struct_of(
        Queue, row, retry_schedule=tuple(schedule) if schedule is not None else None
    )


def _schedule(value: tuple[int, ...] | list[int] | None) -> str | None:
    return rows.dumps(list(value)) if value is not None else None


def insert(conn: sqlite3.Connection, q: Queue) -> Queue:
    """Raises Conflict when the tenant already has a queue of that name."""
    if conn.execute(SELECT_BY_NAME, (q.tenant_id, q.name)).fetchone() is not None:
        raise Conflict(f"A queue named {q.name!r} already exists", {"name": q.name})
    conn.execute(
        INSERT,
        (
            q.id,
            q.tenant_id,
            q.name,
            q.priority,
            q.rate_per_minute,
            _schedule(q.retry_schedule),
            q.created_at,
            q.updated_at,
        ),
    )
    return q


def ensure_default(conn: sqlite3.Connection, tenant_id: str, new_id: str, now: str) -> Queue:
    conn.execute(INSERT_DEFAULT, (new_id, tenant_id, now, now))
    return queue(conn.execute(SELECT_BY_NAME, (tenant_id, DEFAULT_QUEUE)).fetchone())


def get(conn: sqlite3.Connection, tenant_id: str, queue_id: str) -> Queue | None:
    return rows.one(conn, SELECT_BY_ID, (tenant_id, queue_id), queue)


def by_name(conn: sqlite3.Connection, tenant_id: str, name: str) -> Queue | None:
    return rows.one(conn, SELECT_BY_NAME, (tenant_id, name), queue)


def list_page(conn: sqlite3.Connection, tenant_id: str, after: str, limit: int) -> list[Queue]:
    return [queue(r) for r in conn.execute(LIST, (tenant_id, after, limit))]


def list_tuned(conn: sqlite3.Connection) -> list[Queue]:
    return [queue(r) for r in conn.execute(LIST_TUNED)]


def update(conn: sqlite3.Connection, q: Queue, now: str) -> Queue | None:
    """Store new settings; a changed priority re-ranks the queue's waiting jobs."""
    before = get(conn, q.tenant_id, q.id)
    if before is None:
        return None
    conn.execute(
        UPDATE,
        (q.priority, q.rate_per_minute, _schedule(q.retry_schedule), now, q.tenant_id, q.id),
    )
    if q.priority != before.priority:
        conn.execute(RERANK_JOBS, (q.priority, q.id))
    return get(conn, q.tenant_id, q.id)


def set_state(
    conn: sqlite3.Connection, tenant_id: str, queue_id: str, state: str, now: str
) -> Queue | None:
    """active | paused | draining; moves the queue's waiting jobs in or out of 'paused'."""
    before = get(conn, tenant_id, queue_id)
    if before is None:
        return None
    conn.execute(SET_STATE, (state, now, tenant_id, queue_id))
    if state == "paused" and before.state != "paused":
        conn.execute(PAUSE_JOBS, (now, queue_id))
    elif state != "paused" and before.state == "paused":
        conn.execute(RESUME_JOBS, (now, queue_id))
    return get(conn, tenant_id, queue_id)


def delete(conn: sqlite3.Connection, tenant_id: str, queue_id: str) -> bool:
    """Raises Conflict for the default queue and for a queue with unfinished jobs."""
    q = get(conn, tenant_id, queue_id)
    if q is None:
        return False
    if q.name == DEFAULT_QUEUE:
        raise Conflict("The default queue cannot be deleted", {"queueId": queue_id})
    pending = conn.execute(PENDING, (queue_id,)).fetchone()[0]
    if pending:
        raise Conflict(
            f"Queue {q.name!r} still has {pending} unfinished messages; drain it first",
            {"queueId": queue_id, "pending": pending},
        )
    conn.execute(DELETE, (tenant_id, queue_id))
    return True


def check_open(conn: sqlite3.Connection, queue_id: str | None) -> None:
    """Inside an accepting transaction: the queue still exists and is not draining."""
    if queue_id is None:
        return
    row = conn.execute(SELECT_STATE, (queue_id,)).fetchone()
    if row is None:
        raise ValidationFailed([FieldError("queue", "unknown queue (it was deleted)")])
    if row[1] == "draining":
        raise Conflict(
            f"Queue {row[0]!r} is draining: it finishes its messages but accepts no new ones",
            {"queue": row[0], "state": "draining"},
        )


def hold(conn: sqlite3.Connection, queue_id: str, until: str, now: str) -> int:
    return conn.execute(HOLD_JOBS, (until, now, queue_id, until)).rowcount


def park_stragglers(conn: sqlite3.Connection, now: str) -> int:
    return conn.execute(PARK_STRAGGLERS, (now,)).rowcount


def set_run_at(conn: sqlite3.Connection, job_ids: list[int], until: str) -> None:
    conn.executemany(SET_RUN_AT, [(until, job_id) for job_id in job_ids])


def stats(conn: sqlite3.Connection, queue_id: str, now: str, hour_ago: str) -> QueueStats:
    depth = {"ready": 0, "delayed": 0, "leased": 0, "paused": 0}
    for state, due, n in conn.execute(DEPTH, (now, queue_id)):
        key = state if state != "ready" else ("ready" if due else "delayed")
        depth[key] += n
    oldest = conn.execute(OLDEST_DUE, (queue_id, now)).fetchone()[0]
    last_hour = {"sent": 0, "failed": 0, "bounced": 0}
    for status, n in conn.execute(LAST_HOUR, (queue_id, hour_ago)):
        if status in last_hour:
            last_hour[status] += n
    return QueueStats(depth=depth, oldest_due_at=oldest, last_hour=last_hour)
