"""All SQL for scheduled jobs (recurring sends) and their runs. Runs on the writer thread or a
reader; never awaits. Every statement a tenant's request reaches is scoped by tenant_id.

A run is one row keyed (scheduled_job_id, tick). `accept_run_message` writes it in the same
transaction as the message it creates, so a tick that committed can never run again, and a
tick that did not commit left nothing behind.
"""

import sqlite3
from typing import Any

from iep_appliance.domain.errors import Conflict, NotFound
from iep_appliance.domain.models import Accepted, NewMessage, Replayed
from iep_appliance.domain.schedules import ScheduledJob, ScheduledRun
from iep_appliance.store.sqlite import rows
from iep_appliance.store.sqlite.messages import accept_message

COLUMNS = (
    "id, tenant_id, name, cron, timezone, kind, payload, active, sandbox, revision,"
    " last_run_at, next_run_at, created_at, updated_at"
)
INSERT_JOB = f"INSERT INTO scheduled_jobs ({COLUMNS}) VALUES ({', '.join('?' * 14)})"
SELECT_JOB = f"SELECT {COLUMNS} FROM scheduled_jobs WHERE tenant_id = ? AND id = ?"
# A tenant's jobs, oldest first, after a (created_at, id) cursor.
LIST_JOBS = (
    f"SELECT {COLUMNS} FROM scheduled_jobs WHERE tenant_id = ? AND (created_at, id) > (?, ?)"
    " ORDER BY created_at, id LIMIT ?"
)
# Replace the editable fields; the revision moves so an in-flight run keeps its hands off.
UPDATE_JOB = (
    "UPDATE scheduled_jobs SET name = ?, cron = ?, timezone = ?, kind = ?, payload = ?,"
    " active = ?, next_run_at = ?, revision = revision + 1, updated_at = ?"
    " WHERE tenant_id = ? AND id = ? RETURNING revision"
)
DELETE_JOB = "DELETE FROM scheduled_jobs WHERE tenant_id = ? AND id = ?"
DELETE_RUNS = "DELETE FROM scheduled_job_runs WHERE tenant_id = ? AND scheduled_job_id = ?"
# Active jobs whose next tick has come (every tenant: the ticker's query).
SELECT_DUE = (
    f"SELECT {COLUMNS} FROM scheduled_jobs WHERE active = 1 AND next_run_at <= ?"
    " ORDER BY next_run_at, id LIMIT ?"
)
NEXT_DUE = "SELECT min(next_run_at) FROM scheduled_jobs WHERE active = 1"
SELECT_STATE = "SELECT active, revision FROM scheduled_jobs WHERE tenant_id = ? AND id = ?"
RUN_COLUMNS = "scheduled_job_id, tick, created_at, message_id, batch_id, count, error"
SELECT_RUN = f"SELECT {RUN_COLUMNS} FROM scheduled_job_runs WHERE scheduled_job_id = ? AND tick = ?"
INSERT_RUN = (
    "INSERT INTO scheduled_job_runs (scheduled_job_id, tick, tenant_id, message_id, batch_id,"
    " count, error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
# A job's runs, newest first, before a (created_at, tick) cursor.
LIST_RUNS = (
    f"SELECT {RUN_COLUMNS} FROM scheduled_job_runs WHERE tenant_id = ? AND scheduled_job_id = ?"
    " AND (created_at, tick) < (?, ?) ORDER BY created_at DESC, tick DESC LIMIT ?"
)
# After a cron tick: the next tick, unless an update changed the job meanwhile (its own
# next_run_at then stands).
ADVANCE = "UPDATE scheduled_jobs SET last_run_at = ?, next_run_at = ? WHERE id = ? AND revision = ?"
TOUCH_LAST_RUN = "UPDATE scheduled_jobs SET last_run_at = ? WHERE id = ?"
SELECT_MESSAGE_BY_KEY = "SELECT id FROM messages WHERE tenant_id = ? AND idempotency_key = ?"
SELECT_MESSAGE_STATUS = "SELECT status FROM messages WHERE tenant_id = ? AND id = ?"

_FAR = "9999-12-31T23:59:59.999Z"


def job(row: tuple[Any, ...]) -> ScheduledJob:
    return rows.struct_of(
        ScheduledJob,
        row,
        payload=rows.loads(row[6], {}),
        active=bool(row[7]),
        sandbox=bool(row[8]),
    )


def run(row: tuple[Any, ...]) -> ScheduledRun:
    return ScheduledRun(*row)


def insert_job(conn: sqlite3.Connection, j: ScheduledJob) -> ScheduledJob:
    conn.execute(
        INSERT_JOB,
        rows.values_of(
            j, payload=rows.dumps(j.payload), active=int(j.active), sandbox=int(j.sandbox)
        ),
    )
    return j


def get_job(conn: sqlite3.Connection, tenant_id: str, job_id: str) -> ScheduledJob | None:
    return rows.one(conn, SELECT_JOB, (tenant_id, job_id), job)


def list_jobs(
    conn: sqlite3.Connection, tenant_id: str, limit: int, after: tuple[str, str] | None
) -> list[ScheduledJob]:
    return rows.page(conn, LIST_JOBS, (tenant_id,), after or rows.FIRST_PAGE, limit, job)


def update_job(conn: sqlite3.Connection, j: ScheduledJob) -> ScheduledJob | None:
    row = conn.execute(
        UPDATE_JOB,
        (
            j.name,
            j.cron,
            j.timezone,
            j.kind,
            rows.dumps(j.payload),
            int(j.active),
            j.next_run_at,
            j.updated_at,
            j.tenant_id,
            j.id,
        ),
    ).fetchone()
    return get_job(conn, j.tenant_id, j.id) if row else None


def delete_job(conn: sqlite3.Connection, tenant_id: str, job_id: str) -> bool:
    if conn.execute(DELETE_JOB, (tenant_id, job_id)).rowcount == 0:
        return False
    conn.execute(DELETE_RUNS, (tenant_id, job_id))
    return True


def due_jobs(conn: sqlite3.Connection, now: str, limit: int) -> list[ScheduledJob]:
    return [job(r) for r in conn.execute(SELECT_DUE, (now, limit))]


def next_due(conn: sqlite3.Connection) -> str | None:
    value: str | None = conn.execute(NEXT_DUE).fetchone()[0]
    return value


def list_runs(
    conn: sqlite3.Connection,
    tenant_id: str,
    job_id: str,
    limit: int,
    before: tuple[str, str] | None,
) -> list[ScheduledRun]:
    cursor = before or (_FAR, "")
    return rows.page(conn, LIST_RUNS, (tenant_id, job_id), cursor, limit, run)


def _check_job(conn: sqlite3.Connection, tenant_id: str, job_id: str, revision: int | None) -> int:
    """The job's revision. Raises NotFound when it is gone, Conflict when a cron tick
    (`revision` given) finds it paused."""
    row = conn.execute(SELECT_STATE, (tenant_id, job_id)).fetchone()
    if row is None:
        raise NotFound("Scheduled job not found")
    if revision is not None and not row[0]:
        raise Conflict("Scheduled job is paused", {"reason": "inactive"})
    return int(row[1])


def _after_run(
    conn: sqlite3.Connection,
    job_id: str,
    revision: int | None,
    ran_at: str,
    next_run_at: str | None,
) -> None:
    # A run-now (no revision) leaves the schedule alone; so does a tick whose job changed.
    advanced = revision is not None and bool(
        conn.execute(ADVANCE, (ran_at, next_run_at, job_id, revision)).rowcount
    )
    if not advanced:
        conn.execute(TOUCH_LAST_RUN, (ran_at, job_id))


def accept_run_message(
    conn: sqlite3.Connection,
    tenant_id: str,
    job_id: str,
    revision: int | None,
    tick: str,
    msg: NewMessage,
    ran_at: str,
    next_run_at: str | None,
) -> Accepted | Replayed:
    """The message of one tick, its run row and the job's next tick, in one transaction.

    A tick that already ran replays its message (nothing is written). `revision` is the
    revision the tick was computed from (None for a run-now)."""
    _check_job(conn, tenant_id, job_id, revision)
    done = conn.execute(SELECT_RUN, (job_id, tick)).fetchone()
    if done is not None:
        _after_run(conn, job_id, revision, ran_at, next_run_at)
        status = conn.execute(SELECT_MESSAGE_STATUS, (tenant_id, done[3])).fetchone()
        return Replayed(message_id=done[3] or "", status=status[0] if status else "")
    result = accept_message(conn, tenant_id, msg)
    conn.execute(INSERT_RUN, (job_id, tick, tenant_id, result.message_id, None, 1, None, ran_at))
    _after_run(conn, job_id, revision, ran_at, next_run_at)
    return result


def record_run(
    conn: sqlite3.Connection,
    tenant_id: str,
    job_id: str,
    revision: int | None,
    r: ScheduledRun,
    next_run_at: str | None,
) -> ScheduledRun:
    """Record a run whose messages were written elsewhere (a batch, idempotent by its key) or
    a tick that created nothing (`r.error`). Returns the run on record for the tick."""
    try:
        _check_job(conn, tenant_id, job_id, revision)
    except Conflict:
        revision = None  # paused meanwhile: keep the record, leave the schedule alone
    done = conn.execute(SELECT_RUN, (job_id, r.tick)).fetchone()
    if done is None:
        conn.execute(
            INSERT_RUN,
            (job_id, r.tick, tenant_id, r.message_id, r.batch_id, r.count, r.error, r.created_at),
        )
    _after_run(conn, job_id, revision, r.created_at, next_run_at)
    return run(done) if done is not None else r


def message_for_key(conn: sqlite3.Connection, tenant_id: str, key: str) -> str | None:
    row = conn.execute(SELECT_MESSAGE_BY_KEY, (tenant_id, key)).fetchone()
    return row[0] if row else None
