"""All SQL for open and click engagement (issue 18), and the SqliteStore verbs over it
(mixed into SqliteStore). `record` is one transaction: the hit, its event, its webhooks."""

import sqlite3

from iep_appliance.domain.models import MessageRecord
from iep_appliance.domain.tracking import EVENT_TYPE, WEBHOOK_EVENT, EngagementHit, event_data
from iep_appliance.store.sqlite import rows
from iep_appliance.store.sqlite.inbound import SELECT_WEBHOOK_FIELDS
from iep_appliance.store.sqlite.jobs import enqueue_webhooks
from iep_appliance.store.sqlite.messages import INSERT_EVENT, SELECT_MESSAGE_ANY_TENANT
from iep_appliance.store.sqlite.store_base import StoreBase

INSERT_HIT = (
    "INSERT INTO engagement (tenant_id, message_id, kind, url, user_agent, bot, first,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
# Has a person already opened the message (url NULL) / clicked this URL of it?
SEEN = (
    "SELECT 1 FROM engagement WHERE message_id = ? AND kind = ? AND url IS ? AND bot IS NULL"
    " LIMIT 1"
)
STATS = (
    "SELECT substr(created_at, 1, ?) AS bucket, kind, count(*), sum(first),"
    " sum(bot IS NOT NULL) FROM engagement WHERE tenant_id = ? AND created_at >= ?"
    " AND created_at < ? GROUP BY bucket, kind ORDER BY bucket"
)


def record(conn: sqlite3.Connection, hit: EngagementHit, now: str, webhook_attempts: int) -> bool:
    first = False
    if hit.bot is None:
        first = conn.execute(SEEN, (hit.message_id, hit.kind, hit.url)).fetchone() is None
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
        payload = {
            "to": rows.loads(to, []),
            "subject": subject,
            "provider": provider,
            "attempts": attempts,
            **data,
        }
        if sandbox:
            payload["sandbox"] = True
        event = WEBHOOK_EVENT[hit.kind]
        enqueue_webhooks(conn, hit.tenant_id, hit.message_id, event, payload, now, webhook_attempts)
    return first


def tracked(conn: sqlite3.Connection, message_id: str) -> MessageRecord | None:
    row = conn.execute(SELECT_MESSAGE_ANY_TENANT, (message_id,)).fetchone()
    return rows.message(row) if row else None


def stats(
    conn: sqlite3.Connection, tenant_id: str, start: str, end: str, bucket_chars: int
) -> list[tuple[str, str, int, int, int]]:
    found = conn.execute(STATS, (bucket_chars, tenant_id, start, end))
    return [(b, k, n, first or 0, bots or 0) for b, k, n, first, bots in found]


class TrackingVerbs(StoreBase):
    async def tracked_message(self, message_id: str) -> MessageRecord | None:
        return await self.db.read(lambda c: tracked(c, message_id))

    async def record_engagement(self, hit: EngagementHit) -> bool:
        now = self._now()
        attempts = self.webhook_attempts
        first = await self.db.write(lambda c: record(c, hit, now, attempts))
        self._notify(now)  # webhook jobs may be due now
        return first

    async def engagement_stats(
        self, tenant_id: str, start: str, end: str, bucket_chars: int
    ) -> list[tuple[str, str, int, int, int]]:
        return await self.db.read(lambda c: stats(c, tenant_id, start, end, bucket_chars))
