"""All SQL for open and click engagement (the verbs: store/sqlite/verbs/tracking.py). `record`
is one transaction: the hit, its event, its webhooks. Runs on the writer thread or a reader;
never awaits."""

import sqlite3

from iep_appliance.domain.models import MessageRecord
from iep_appliance.domain.tracking import (
    EVENT_TYPE,
    WEBHOOK_EVENT,
    EngagementCount,
    EngagementHit,
    event_data,
)
from iep_appliance.domain.webhooks import message_event_data
from iep_appliance.store.sqlite import rows
from iep_appliance.store.sqlite.inbound import SELECT_WEBHOOK_FIELDS
from iep_appliance.store.sqlite.jobs import enqueue_webhooks
from iep_appliance.store.sqlite.messages import INSERT_EVENT, SELECT_MESSAGE_ANY_TENANT

INSERT_HIT = (
    "INSERT INTO engagement (tenant_id, message_id, kind, url, user_agent, bot, first,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
# Has a person already opened the message (url NULL) / clicked this URL of it?
SEEN_OPEN = (
    "SELECT 1 FROM engagement WHERE message_id = ? AND kind = ? AND url IS NULL"
    " AND bot IS NULL LIMIT 1"
)
SEEN_CLICK = (
    "SELECT 1 FROM engagement WHERE message_id = ? AND kind = ? AND url = ? AND bot IS NULL LIMIT 1"
)
# Hits, first hits and bot hits by bucket (a prefix of created_at) and kind.
STATS = (
    "SELECT substr(created_at, 1, ?) AS bucket, kind, count(*), count(nullif(first, 0)),"
    " count(bot) FROM engagement WHERE tenant_id = ? AND created_at >= ?"
    " AND created_at < ? GROUP BY bucket, kind ORDER BY bucket"
)


def _seen(conn: sqlite3.Connection, hit: EngagementHit) -> bool:
    if hit.url is None:
        return conn.execute(SEEN_OPEN, (hit.message_id, hit.kind)).fetchone() is not None
    found = conn.execute(SEEN_CLICK, (hit.message_id, hit.kind, hit.url)).fetchone()
    return found is not None


def record(conn: sqlite3.Connection, hit: EngagementHit, now: str, webhook_attempts: int) -> bool:
    first = hit.bot is None and not _seen(conn, hit)
    conn.execute(
        INSERT_HIT,
        (
            hit.tenant_id,
            hit.message_id,
            hit.kind,
            hit.url,
            hit.user_agent,
            hit.bot,
            int(first),
            now,
        ),
    )
    data = event_data(hit, first)
    event_args = (hit.message_id, hit.tenant_id, EVENT_TYPE[hit.kind], rows.dumps(data), now)
    conn.execute(INSERT_EVENT, event_args)
    row = conn.execute(SELECT_WEBHOOK_FIELDS, (hit.message_id, hit.tenant_id)).fetchone()
    if row is not None:
        to, subject, provider, attempts, sandbox = row
        payload = message_event_data(
            rows.loads(to, []), subject, provider, attempts, bool(sandbox), data
        )
        event = WEBHOOK_EVENT[hit.kind]
        enqueue_webhooks(conn, hit.tenant_id, hit.message_id, event, payload, now, webhook_attempts)
    return first


def tracked(conn: sqlite3.Connection, message_id: str) -> MessageRecord | None:
    return rows.one(conn, SELECT_MESSAGE_ANY_TENANT, (message_id,), rows.message)


def stats(
    conn: sqlite3.Connection, tenant_id: str, start: str, end: str, bucket_chars: int
) -> list[EngagementCount]:
    found = conn.execute(STATS, (bucket_chars, tenant_id, start, end))
    return [
        EngagementCount(bucket=b, kind=k, hits=n, first=first, bots=bots)
        for b, k, n, first, bots in found
    ]
