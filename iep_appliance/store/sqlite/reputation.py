"""All SQL of the reputation hold (DESIGN §10.3): which tenants are held, holding one (with
its `tenant.paused` webhook, once per hold) and resuming it, and the per-day trend."""

import sqlite3
from typing import Any

from iep_appliance.domain.reputation import ReputationDay, ReputationHold
from iep_appliance.store.sqlite.jobs import enqueue_webhooks

SELECT_HOLDS = (
    "SELECT id, reputation_held_at, reputation_resumed_at FROM tenants"
    " WHERE reputation_held_at IS NOT NULL OR reputation_resumed_at IS NOT NULL"
)
HOLD = (
    "UPDATE tenants SET reputation_held_at = ?, updated_at = ?"
    " WHERE id = ? AND reputation_held_at IS NULL"
)
RESUME = (
    "UPDATE tenants SET reputation_held_at = NULL, reputation_resumed_at = ?, updated_at = ?"
    " WHERE id = ? AND reputation_held_at IS NOT NULL"
)
# Held mail was deferred to a later recheck (domain/verdicts.py `held`, last_error "held: …"):
# due again now. Not the tenant's scheduled sends or retries in backoff: they keep their time.
RELEASE_HELD = (
    "UPDATE jobs SET run_at = ?, updated_at = ? WHERE kind = 'send' AND tenant_id = ?"
    " AND state = 'ready' AND run_at > ? AND last_error LIKE 'held:%'"
)
# Per day (UTC, by creation): messages that went out or bounced, and those that bounced.
TREND_MESSAGES = (
    "SELECT substr(created_at, 1, 10) AS day, count(*), coalesce(sum(status = 'bounced'), 0)"
    " FROM messages WHERE tenant_id = ? AND created_at >= ? AND status IN ('sent', 'bounced')"
    " GROUP BY day"
)
TREND_COMPLAINTS = (
    "SELECT substr(created_at, 1, 10) AS day, count(*) FROM inbound_effects"
    " WHERE tenant_id = ? AND kind = 'complaint' AND created_at >= ? GROUP BY day"
)


def holds(conn: sqlite3.Connection) -> dict[str, ReputationHold]:
    return {r[0]: ReputationHold(r[1], r[2]) for r in conn.execute(SELECT_HOLDS).fetchall()}


def hold(
    conn: sqlite3.Connection, tenant_id: str, data: dict[str, Any], now: str, attempts: int
) -> bool:
    """Hold the tenant's sending; True (and the `tenant.paused` webhooks queued in the same
    transaction) only when it was not held already."""
    if conn.execute(HOLD, (now, now, tenant_id)).rowcount != 1:
        return False
    enqueue_webhooks(conn, tenant_id, None, "tenant.paused", data, now, attempts)
    return True


def resume(conn: sqlite3.Connection, tenant_id: str, now: str) -> bool:
    if conn.execute(RESUME, (now, now, tenant_id)).rowcount != 1:
        return False
    conn.execute(RELEASE_HELD, (now, now, tenant_id, now))
    return True


def trend(conn: sqlite3.Connection, tenant_id: str, since: str) -> list[ReputationDay]:
    """(day, messages, bounces, complaints) per day with any, oldest first."""
    days: dict[str, list[int]] = {}
    for day, messages, bounced in conn.execute(TREND_MESSAGES, (tenant_id, since)):
        days[day] = [int(messages), int(bounced), 0]
    for day, complaints in conn.execute(TREND_COMPLAINTS, (tenant_id, since)):
        days.setdefault(day, [0, 0, 0])[2] = int(complaints)
    return [ReputationDay(day, d[0], d[1], d[2]) for day, d in sorted(days.items())]
