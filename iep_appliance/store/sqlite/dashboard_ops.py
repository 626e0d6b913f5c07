"""SQL of the dashboard's overview, queue page and operator actions: rollup
buckets of any tenant, recent throughput, bounded job counts, named queue depths, jobs waiting
for their time, the DLQ's discard and re-queue, and attachment lookup. Every read is bounded
(an index range or a fixed window), so pages stay fast with a large history. Runs on a
connection handed in by the writer or a reader; never awaits.
"""

import sqlite3
from collections.abc import Sequence

from iep_appliance.domain.analytics import StatsQuery, StatusCount
from iep_appliance.domain.dashboard import AttachmentFile, JobRow, JobState, NamedQueueDepth
from iep_appliance.store.sqlite import rows

# Status changes per bucket (prefix of `hour`: 13 chars = hour, 10 = day) of all tenants:
# one range of the rollup's primary key (tenant_id, tag, hour) per tenant, tag rows skipped.
SELECT_BUCKETS_ALL = (
    "SELECT substr(hour, 1, ?) AS bucket, status, sum(count) FROM stats_hourly"
    " WHERE tenant_id IN (SELECT id FROM tenants) AND tag = '' AND hour >= ? AND hour < ?"
    " GROUP BY bucket, status"
)
# The same for one tenant (the rollup's primary key starts with tenant_id, tag, hour).
SELECT_BUCKETS_TENANT = (
    "SELECT substr(hour, 1, ?) AS bucket, status, sum(count) FROM stats_hourly"
    " WHERE tenant_id = ? AND tag = '' AND hour >= ? AND hour < ? GROUP BY bucket, status"
)
# Events are appended in time order, so the first event of the last minute is found by a
# binary search over ids (point lookups), and the minute's outcomes by one bounded id range.
# (Two statements: SQLite answers a lone min() or max() from the index, not both at once.)
FIRST_EVENT_ID = "SELECT min(id) FROM events"
LAST_EVENT_ID = "SELECT max(id) FROM events"
EVENT_TIME_FROM = "SELECT created_at FROM events WHERE id >= ? ORDER BY id LIMIT 1"
SELECT_OUTCOMES_FROM = (
    "SELECT type, count(*) FROM (SELECT type FROM events WHERE id >= ? ORDER BY id LIMIT ?)"
    " WHERE type IN ('sent', 'failed', 'bounced') GROUP BY type"
)
# Jobs in one state (a count over the jobs_due index alone).
COUNT_JOBS_IN_STATE = "SELECT count(*) FROM jobs WHERE state = ?"
# Named queues with their send jobs per live state (each count a range of jobs_queue).
SELECT_NAMED_QUEUES = (
    "SELECT q.tenant_id, q.name, q.state,"
    " (SELECT count(*) FROM jobs j WHERE j.queue_id = q.id AND j.state = 'ready'),"
    " (SELECT count(*) FROM jobs j WHERE j.queue_id = q.id AND j.state = 'leased'),"
    " (SELECT count(*) FROM jobs j WHERE j.queue_id = q.id AND j.state = 'paused'),"
    " (SELECT count(*) FROM jobs j WHERE j.queue_id = q.id AND j.state = 'dead')"
    " FROM queues q ORDER BY q.tenant_id, q.name LIMIT ?"
)
# Jobs due later (scheduled, or waiting for a retry), soonest first, after (run_at, id).
SELECT_WAITING = (
    "SELECT j.id, j.kind, j.ref_id, j.tenant_id, j.attempts, j.max_attempts, j.run_at,"
    " j.last_error, m.status, coalesce(m.rendered_subject, m.subject), m.to_addrs"
    " FROM jobs j LEFT JOIN messages m ON j.kind = 'send' AND m.id = j.ref_id"
    " WHERE j.state = 'ready' AND j.run_at > ?1 AND (?2 IS NULL OR (j.run_at, j.id) > (?2, ?3))"
    " ORDER BY j.run_at, j.id LIMIT ?4"
)
# Kind, message and state of some jobs.
SELECT_JOB_STATES = "SELECT id, kind, ref_id, tenant_id, state FROM jobs WHERE id IN ({marks})"
# Take a dead job out of the DLQ for good (its message, if any, stays failed).
DISCARD_JOB = (
    "UPDATE jobs SET state = 'done', last_error = 'discarded: ' || coalesce(last_error, ''),"
    " updated_at = ? WHERE id = ? AND state = 'dead'"
)
# A dead webhook job gets a fresh set of attempts, due now.
REQUEUE_JOB = (
    "UPDATE jobs SET state = 'ready', attempts = 0, run_at = ?, lease_until = NULL,"
    " last_error = NULL, updated_at = ? WHERE id = ? AND state = 'dead' AND kind = 'webhook'"
)
# One attachment of a message, by its id.
SELECT_ATTACHMENT = (
    "SELECT tenant_id, filename, content_type, storage_key FROM attachments"
    " WHERE message_id = ? AND id = ?"
)

LIVE_JOB_STATES: tuple[str, ...] = ("ready", "leased", "paused", "dead")
# Events the throughput counts at most (a minute at ~1,600 messages/s, three events each).
RECENT_EVENTS = 300_000
MAX_NAMED_QUEUES = 500


def buckets(conn: sqlite3.Connection, q: StatsQuery, tenant_id: str | None) -> list[StatusCount]:
    width = 13 if q.group_by == "hour" else 10
    if tenant_id is None:
        found = conn.execute(SELECT_BUCKETS_ALL, (width, q.start, q.end))
    else:
        found = conn.execute(SELECT_BUCKETS_TENANT, (width, tenant_id, q.start, q.end))
    return [StatusCount(b, s, int(n)) for b, s, n in found]


def first_event_since(conn: sqlite3.Connection, since: str) -> int | None:
    """The smallest event id created at or after `since` (None: no such event)."""
    lo = conn.execute(FIRST_EVENT_ID).fetchone()[0]
    hi = conn.execute(LAST_EVENT_ID).fetchone()[0]
    if lo is None or hi is None:
        return None
    last = conn.execute(EVENT_TIME_FROM, (hi,)).fetchone()
    if last is None or last[0] < since:
        return None
    while lo < hi:  # invariant: the answer is in [lo, hi]
        mid = (lo + hi) // 2
        at = conn.execute(EVENT_TIME_FROM, (mid,)).fetchone()
        if at is not None and at[0] >= since:
            hi = mid
        else:
            lo = mid + 1
    return int(lo)


def recent_outcomes(conn: sqlite3.Connection, since: str) -> dict[str, int]:
    start = first_event_since(conn, since)
    if start is None:
        return {}
    found = conn.execute(SELECT_OUTCOMES_FROM, (start, RECENT_EVENTS))
    return {t: int(n) for t, n in found}


def job_depth(conn: sqlite3.Connection) -> dict[str, int]:
    return {s: conn.execute(COUNT_JOBS_IN_STATE, (s,)).fetchone()[0] for s in LIVE_JOB_STATES}


def named_queues(conn: sqlite3.Connection) -> list[NamedQueueDepth]:
    return [
        NamedQueueDepth(
            tenant_id=r[0],
            name=r[1],
            state=r[2],
            counts=dict(zip(LIVE_JOB_STATES, (int(n) for n in r[3:7]), strict=True)),
        )
        for r in conn.execute(SELECT_NAMED_QUEUES, (MAX_NAMED_QUEUES,))
    ]


def waiting_jobs(
    conn: sqlite3.Connection, now: str, limit: int, after: tuple[str, int] | None
) -> list[JobRow]:
    at, job_id = after or (None, None)
    return [
        rows.struct_of(JobRow, r, to=tuple(rows.loads(r[10], [])))
        for r in conn.execute(SELECT_WAITING, (now, at, job_id, limit))
    ]


def job_states(conn: sqlite3.Connection, job_ids: Sequence[int]) -> list[JobState]:
    """Those of `job_ids` that exist."""
    if not job_ids:
        return []
    sql = SELECT_JOB_STATES.format(marks=", ".join("?" * len(job_ids)))
    return [JobState(*r) for r in conn.execute(sql, list(job_ids))]


def discard_jobs(conn: sqlite3.Connection, job_ids: Sequence[int], now: str) -> int:
    return sum(conn.execute(DISCARD_JOB, (now, job_id)).rowcount for job_id in job_ids)


def requeue_webhook_jobs(conn: sqlite3.Connection, job_ids: Sequence[int], now: str) -> int:
    return sum(conn.execute(REQUEUE_JOB, (now, now, job_id)).rowcount for job_id in job_ids)


def attachment(
    conn: sqlite3.Connection, message_id: str, attachment_id: str
) -> AttachmentFile | None:
    row = conn.execute(SELECT_ATTACHMENT, (message_id, attachment_id)).fetchone()
    return AttachmentFile(*row) if row else None
