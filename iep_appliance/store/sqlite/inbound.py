"""All SQL for inbound mail (bounces, complaints, unsubscribes) and what it changes. Runs on a
connection handed in by the writer or a reader; never awaits.

`record` is one transaction: the stored mail, then each effect once per (message, recipient,
kind): its event, the hard-bounce count or suppression, the message's `bounced` status when
every recipient has hard-bounced, and the webhook jobs. A replayed report finds its effects
recorded already and changes nothing.
"""

import sqlite3
from typing import Any

from iep_appliance.domain.bounces import InboundEffect, InboundMail, InboundSummary, suppresses
from iep_appliance.domain.reputation import ReputationCounts
from iep_appliance.domain.webhooks import message_event_data
from iep_appliance.store.sqlite import rows
from iep_appliance.store.sqlite.jobs import COUNT_BOUNCE, SUPPRESS, enqueue_webhooks
from iep_appliance.store.sqlite.messages import INSERT_EVENT

INSERT_MAIL = (
    "INSERT INTO inbound_mail (id, tenant_id, message_id, kind, mail_from, rcpt_to, size, raw,"
    " summary, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_EFFECT = (
    "INSERT OR IGNORE INTO inbound_effects (tenant_id, message_id, recipient, kind, created_at)"
    " VALUES (?, ?, ?, ?, ?)"
)
# Distinct recipients of a message that hard-bounced after the send.
COUNT_HARD = (
    "SELECT count(DISTINCT recipient) FROM inbound_effects WHERE message_id = ? AND kind = 'hard'"
)
MARK_BOUNCED = (
    "UPDATE messages SET status = 'bounced', updated_at = ? WHERE id = ? AND tenant_id = ?"
    " AND status IN ('sent', 'delivered', 'processing', 'queued', 'failed')"
)
# The message fields a webhook carries.
SELECT_WEBHOOK_FIELDS = (
    "SELECT to_addrs, coalesce(rendered_subject, subject), provider, attempts, sandbox"
    " FROM messages WHERE id = ? AND tenant_id = ?"
)
EVENT_OF = {
    "hard": "bounced",
    "soft": "bounced",
    "policy": "bounced",
    "complaint": "complained",
    "unsubscribe": "unsubscribed",
    "delivered": "delivered",  # provider events
    "opened": "opened",
    "clicked": "clicked",
}
# A provider reported delivery: `sent` becomes `delivered` (never over bounced or failed).
MARK_DELIVERED = (
    "UPDATE messages SET status = 'delivered', updated_at = ? WHERE id = ? AND tenant_id = ?"
    " AND status = 'sent'"
)
SELECT_FOR_MESSAGE = (
    "SELECT id, kind, mail_from, rcpt_to, size, summary, received_at FROM inbound_mail"
    " WHERE tenant_id = ? AND message_id = ? ORDER BY received_at, id"
)
SELECT_RAW = "SELECT raw FROM inbound_mail WHERE tenant_id = ? AND id = ?"
PURGE = (
    "DELETE FROM inbound_mail WHERE id IN"
    " (SELECT id FROM inbound_mail WHERE received_at < ? LIMIT ?)"
)
PURGE_EFFECTS = (
    "DELETE FROM inbound_effects WHERE rowid IN"
    " (SELECT rowid FROM inbound_effects WHERE created_at < ? LIMIT ?)"
)


def record(
    conn: sqlite3.Connection,
    mail: InboundMail | None,
    effects: list[InboundEffect],
    now: str,
    webhook_attempts: int,
) -> int:
    """Store `mail` (None: an unsubscribe by link) and apply the effects not recorded before.
    Returns how many were new."""
    if mail is not None:
        _insert_mail(conn, mail)
    applied = 0
    for e in effects:
        new = conn.execute(INSERT_EFFECT, (e.tenant_id, e.message_id, e.recipient, e.kind, now))
        if new.rowcount != 1:
            continue
        applied += 1
        _apply(conn, e, mail.id if mail else None, now, webhook_attempts)
    return applied


def _insert_mail(conn: sqlite3.Connection, mail: InboundMail) -> None:
    conn.execute(INSERT_MAIL, rows.values_of(mail, summary=rows.dumps(mail.summary)))


def _apply(
    conn: sqlite3.Connection,
    e: InboundEffect,
    inbound_id: str | None,
    now: str,
    webhook_attempts: int,
) -> None:
    data: dict[str, Any] = {"recipient": e.recipient}
    if inbound_id:
        data["inboundId"] = inbound_id
    if e.kind in ("hard", "soft", "policy"):
        data.update(kind=e.kind, status=e.status, diagnostic=e.diagnostic)
    elif e.diagnostic:
        data["feedbackType" if e.kind == "complaint" else "source"] = e.diagnostic
    if e.detail:
        data.update(e.detail)
    conn.execute(INSERT_EVENT, (e.message_id, e.tenant_id, EVENT_OF[e.kind], rows.dumps(data), now))
    suppressed = False
    if e.kind == "hard" and e.strikes > 0:
        count = conn.execute(COUNT_BOUNCE, (e.tenant_id, e.recipient, now)).fetchone()[0]
        if suppresses(count, e.strikes):
            args = (e.tenant_id, e.recipient, "hard_bounce", e.message_id, now)
            suppressed = conn.execute(SUPPRESS, args).rowcount == 1
    if e.suppress_reason:
        args = (e.tenant_id, e.recipient, e.suppress_reason, e.message_id, now)
        suppressed = conn.execute(SUPPRESS, args).rowcount == 1
    if suppressed:
        conn.execute(
            INSERT_EVENT,
            (e.message_id, e.tenant_id, "suppressed", rows.dumps({"recipient": e.recipient}), now),
        )
    if e.kind == "delivered":
        conn.execute(MARK_DELIVERED, (now, e.message_id, e.tenant_id))
    if e.kind == "hard":
        hard = conn.execute(COUNT_HARD, (e.message_id,)).fetchone()[0]
        if hard >= e.recipients_total:
            conn.execute(MARK_BOUNCED, (now, e.message_id, e.tenant_id))
    if e.webhook:
        row = conn.execute(SELECT_WEBHOOK_FIELDS, (e.message_id, e.tenant_id)).fetchone()
        if row is not None:
            to, subject, provider, attempts, sandbox = row
            payload = message_event_data(
                rows.loads(to, []), subject, provider, attempts, bool(sandbox), data
            )
            enqueue_webhooks(
                conn, e.tenant_id, e.message_id, e.webhook, payload, now, webhook_attempts
            )


def for_message(conn: sqlite3.Connection, tenant_id: str, message_id: str) -> list[InboundSummary]:
    return [
        InboundSummary(
            id=id_,
            kind=kind,
            mail_from=mail_from,
            rcpt_to=rcpt_to,
            size=size,
            summary=rows.loads(summary, {}),
            received_at=received,
        )
        for id_, kind, mail_from, rcpt_to, size, summary, received in conn.execute(
            SELECT_FOR_MESSAGE, (tenant_id, message_id)
        )
    ]


def raw(conn: sqlite3.Connection, tenant_id: str, inbound_id: str) -> bytes | None:
    row = conn.execute(SELECT_RAW, (tenant_id, inbound_id)).fetchone()
    return None if row is None else bytes(row[0])


def purge(conn: sqlite3.Connection, before: str, limit: int) -> int:
    n = conn.execute(PURGE, (before, limit)).rowcount
    conn.execute(PURGE_EFFECTS, (before, limit))
    return n


# Reputation over a window: messages that went out, those that bounced hard, complaints.
COUNT_DELIVERED = (
    "SELECT count(*), coalesce(sum(status = 'bounced'), 0) FROM messages"
    " WHERE tenant_id = ? AND created_at >= ? AND status IN ('sent', 'delivered', 'bounced')"
)
COUNT_COMPLAINTS = (
    "SELECT count(*) FROM inbound_effects WHERE tenant_id = ? AND kind = 'complaint'"
    " AND created_at >= ?"
)


def reputation_counts(conn: sqlite3.Connection, tenant_id: str, since: str) -> ReputationCounts:
    messages, bounced = conn.execute(COUNT_DELIVERED, (tenant_id, since)).fetchone()
    complaints = conn.execute(COUNT_COMPLAINTS, (tenant_id, since)).fetchone()[0]
    return ReputationCounts(int(messages), int(bounced), int(complaints))
