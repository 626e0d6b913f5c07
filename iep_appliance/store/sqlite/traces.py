"""The trace context stored with a job: the accept's traceparent on its send job.
Only runs while tracing is on (the verb checks), so an accept with tracing off costs nothing
more."""

import sqlite3

from iep_appliance.domain.models import Accepted, NewMessage, Replayed
from iep_appliance.store.sqlite import messages as q_messages

# The send job of a message just accepted gets the request's traceparent.
SET_TRACEPARENT = "UPDATE jobs SET traceparent = ? WHERE kind = 'send' AND ref_id = ?"
LAST_JOB_ID = "SELECT coalesce(max(id), 0) FROM jobs"
# Webhook jobs a finished send just enqueued (ids above the last one before it) continue its trace.
TRACE_WEBHOOK_JOBS = "UPDATE jobs SET traceparent = ? WHERE id > ? AND kind = 'webhook'"


def last_job_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute(LAST_JOB_ID).fetchone()[0])


def trace_webhook_jobs(conn: sqlite3.Connection, after_id: int, traceparent: str) -> None:
    conn.execute(TRACE_WEBHOOK_JOBS, (traceparent, after_id))


def accept_traced(
    conn: sqlite3.Connection, tenant_id: str, msg: NewMessage, traceparent: str
) -> Accepted | Replayed:
    result = q_messages.accept_message(conn, tenant_id, msg)
    if isinstance(result, Accepted):
        conn.execute(SET_TRACEPARENT, (traceparent, result.message_id))
    return result
