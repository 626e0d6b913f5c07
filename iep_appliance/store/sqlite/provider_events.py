"""All SQL for provider events: kept once per (provider, event id), their effects
applied in the same transaction through the inbound code (`inbound.record`), and Mailgun's
one-time webhook tokens. Runs on a connection handed in by the writer or a reader."""

import sqlite3

from iep_appliance.domain.bounces import InboundEffect
from iep_appliance.store.sqlite import inbound as q_inbound

INSERT_EVENT = (
    "INSERT OR IGNORE INTO provider_events (provider, event_id, type, tenant_id, message_id,"
    " provider_message_id, payload, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_TOKEN = (
    "INSERT OR IGNORE INTO provider_webhook_tokens (provider, token, seen_at) VALUES (?, ?, ?)"
)
PURGE_EVENTS = (
    "DELETE FROM provider_events WHERE rowid IN"
    " (SELECT rowid FROM provider_events WHERE received_at < ? LIMIT ?)"
)
PURGE_TOKENS = (
    "DELETE FROM provider_webhook_tokens WHERE rowid IN"
    " (SELECT rowid FROM provider_webhook_tokens WHERE seen_at < ? LIMIT ?)"
)
SELECT_FOR_MESSAGE = (
    "SELECT provider, event_id, type, received_at FROM provider_events WHERE message_id = ?"
    " ORDER BY received_at, event_id"
)


def record(
    conn: sqlite3.Connection,
    row: tuple[str, str, str, str | None, str | None, str | None, str],
    effects: list[InboundEffect],
    now: str,
    webhook_attempts: int,
) -> int | None:
    """None when (provider, event id) was kept before; else the new effects applied."""
    if conn.execute(INSERT_EVENT, (*row, now)).rowcount != 1:
        return None
    return q_inbound.record(conn, None, effects, now, webhook_attempts)


def use_token(conn: sqlite3.Connection, provider: str, token: str, now: str) -> bool:
    return conn.execute(INSERT_TOKEN, (provider, token, now)).rowcount == 1


def for_message(conn: sqlite3.Connection, message_id: str) -> list[dict[str, object]]:
    return [
        {"provider": p, "eventId": e, "type": t, "receivedAt": r}
        for p, e, t, r in conn.execute(SELECT_FOR_MESSAGE, (message_id,))
    ]


def purge(conn: sqlite3.Connection, events_before: str, tokens_before: str, limit: int) -> int:
    """At most `limit` events received before `events_before` and `limit` tokens seen before
    `tokens_before`; returns how many rows went."""
    n = conn.execute(PURGE_EVENTS, (events_before, limit)).rowcount
    return n + conn.execute(PURGE_TOKENS, (tokens_before, limit)).rowcount
