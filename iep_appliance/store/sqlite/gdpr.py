"""All SQL of GDPR export and erase (the verbs: store/sqlite/verbs/gdpr.py).

What an erase removes is declared in three tables below, so a new table that can name an
address is one line: `BY_MESSAGE` (rows of the erased messages, by a message-id column),
`BY_TEXT` (rows of the tenant whose text columns contain the address) and the messages
themselves (`MESSAGE_TEXT`, plus their raw and outbox MIME). Suppressions are re-keyed to the
hash, not deleted, so the address stays blocked. The same statements run on PostgreSQL
(through its dialect). On SQLite, after the commit, the `Compaction` capability
(verbs/compaction.py) checkpoints, VACUUMs and truncates the WAL: no page of the file still
holds the erased bytes.
"""

import sqlite3
from typing import Any

from iep_appliance.domain.gdpr import EraseResult, GdprRequest
from iep_appliance.store.sqlite import rows

# Text columns of `messages` searched for the address (case-insensitive).
MESSAGE_TEXT = (
    "to_addrs",
    "cc_addrs",
    "bcc_addrs",
    "from_email",
    "reply_to",
    "display_names",
    "subject",
    "html_body",
    "text_body",
    "rendered_subject",
    "rendered_html",
    "rendered_text",
    "variables",
    "metadata",
    "last_error",
)
# MIME copies searched too (a raw-MIME message names addresses only in its headers).
MIME_TABLES = (("message_raw", "mime"), ("outbox", "mime"))
# (table, message-id column): rows of the erased messages. Attachments' files are handled too.
BY_MESSAGE: tuple[tuple[str, str], ...] = (
    ("events", "message_id"),
    ("outbox", "message_id"),
    ("message_raw", "message_id"),
    ("webhook_deliveries", "message_id"),
    ("attachments", "message_id"),
    ("inbound_mail", "message_id"),
    ("inbound_effects", "message_id"),
    ("scheduled_job_runs", "message_id"),
    ("engagement", "message_id"),  # opens and clicks: user agents, the links followed
    ("provider_events", "message_id"),  # what SES/SendGrid/Mailgun reported of it
)
# (table, text columns): the tenant's other rows that name the address.
BY_TEXT: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("jobs", ("payload", "last_error")),  # webhook jobs carry the event's recipient
    ("inbound_mail", ("mail_from", "rcpt_to", "summary")),
    ("inbound_effects", ("recipient",)),
    ("bounce_counts", ("email",)),
    ("scheduled_jobs", ("payload",)),  # a recurring send to the address
    ("webhook_deliveries", ("error",)),
)
_CHUNK = 400


def _concat(columns: tuple[str, ...]) -> str:
    return " || ' ' || ".join(f"coalesce({c}, '')" for c in columns)


FIND_MESSAGES = (
    f"SELECT id FROM messages WHERE tenant_id = ? AND instr(lower({_concat(MESSAGE_TEXT)}), ?) > 0"
)
ATTACHMENT_KEYS_OF = "SELECT DISTINCT storage_key FROM attachments WHERE message_id IN "
KEY_IN_USE = "SELECT 1 FROM attachments WHERE storage_key = ? LIMIT 1"
DELETE_SEND_JOBS = "DELETE FROM jobs WHERE kind = 'send' AND ref_id IN "
DELETE_MESSAGES = "DELETE FROM messages WHERE id IN "
SUPPRESSION_OF = (
    "SELECT reason, created_at FROM suppression_list WHERE tenant_id = ? AND lower(email) = ?"
)
INSERT_HASHED = (
    "INSERT OR IGNORE INTO suppression_list (tenant_id, email, reason, source_message_id,"
    " created_at) VALUES (?, ?, ?, NULL, ?)"
)
DELETE_SUPPRESSION = "DELETE FROM suppression_list WHERE tenant_id = ? AND lower(email) = ?"
# A request's columns: GdprRequest's fields in order (rows.struct_of, rows.values_of).
REQUEST_COLUMNS = "id, tenant_id, kind, email_hash, state, requested_at, counts, error, finished_at"
SAVE_REQUEST = (
    f"INSERT OR REPLACE INTO gdpr_requests ({REQUEST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
LIST_REQUESTS = (
    f"SELECT {REQUEST_COLUMNS}"
    " FROM gdpr_requests WHERE tenant_id = ? ORDER BY requested_at DESC, id DESC LIMIT ?"
)
# The export's reads: whole rows, by kind.
EXPORT_MESSAGE = (
    "SELECT id, created_at, updated_at, status, from_email, from_name, reply_to, to_addrs,"
    " cc_addrs, bcc_addrs, subject, text_body, html_body, variables, metadata, category,"
    " sent_at FROM messages WHERE id = ?"
)
EXPORT_EVENTS = "SELECT type, created_at, payload FROM events WHERE message_id = ? ORDER BY id"
EXPORT_ATTACHMENTS = (
    "SELECT filename, content_type, size_bytes FROM attachments WHERE message_id = ?"
    " ORDER BY position"
)
EXPORT_DELIVERIES = (
    "SELECT event, attempt, status_code, created_at FROM webhook_deliveries WHERE message_id = ?"
    " ORDER BY created_at"
)
EXPORT_SUPPRESSIONS = (
    "SELECT email, reason, created_at FROM suppression_list"
    " WHERE tenant_id = ? AND lower(email) = ?"
)


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def _marks(n: int) -> str:
    return "(" + ",".join("?" * n) + ")"


def message_ids(conn: sqlite3.Connection, tenant_id: str, email: str) -> list[str]:
    found = {r[0] for r in conn.execute(FIND_MESSAGES, (tenant_id, email))}
    for table, column in MIME_TABLES:
        sql = (
            f"SELECT message_id FROM {table} WHERE tenant_id = ?"
            f" AND instr(lower(CAST({column} AS TEXT)), ?) > 0"
        )
        found |= {r[0] for r in conn.execute(sql, (tenant_id, email))}
    return sorted(found)


def _text_rows(table: str, columns: tuple[str, ...], select: str) -> str:
    return f"{select} FROM {table} WHERE tenant_id = ? AND instr(lower({_concat(columns)}), ?) > 0"


def erase(
    conn: sqlite3.Connection, tenant_id: str, email: str, email_hash: str, now: str
) -> EraseResult:
    counts: dict[str, int] = {}

    def add(table: str, n: int) -> None:
        if n:
            counts[table] = counts.get(table, 0) + n

    ids = message_ids(conn, tenant_id, email)
    keys: set[str] = set()
    for chunk in _chunks(ids):
        marks = _marks(len(chunk))
        keys |= {r[0] for r in conn.execute(ATTACHMENT_KEYS_OF + marks, chunk)}
        for table, column in BY_MESSAGE:
            add(
                table,
                conn.execute(f"DELETE FROM {table} WHERE {column} IN {marks}", chunk).rowcount,
            )
        add("jobs", conn.execute(DELETE_SEND_JOBS + marks, chunk).rowcount)
        for message_id in chunk:  # webhook jobs of these messages (their payload names them)
            add(
                "jobs",
                conn.execute(
                    "DELETE FROM jobs WHERE tenant_id = ? AND kind != 'send'"
                    " AND instr(payload, ?) > 0",
                    (tenant_id, message_id),
                ).rowcount,
            )
        add("messages", conn.execute(DELETE_MESSAGES + marks, chunk).rowcount)
    for table, columns in BY_TEXT:
        add(table, conn.execute(_text_rows(table, columns, "DELETE"), (tenant_id, email)).rowcount)
    kept = conn.execute(SUPPRESSION_OF, (tenant_id, email)).fetchone()
    if kept is not None:
        conn.execute(INSERT_HASHED, (tenant_id, email_hash, kept[0], kept[1] or now))
        add("suppression_list", conn.execute(DELETE_SUPPRESSION, (tenant_id, email)).rowcount)
    orphans = tuple(sorted(k for k in keys if conn.execute(KEY_IN_USE, (k,)).fetchone() is None))
    return EraseResult(counts=counts, orphan_keys=orphans)


def export(conn: sqlite3.Connection, tenant_id: str, email: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {"messages": []}
    for message_id in message_ids(conn, tenant_id, email):
        row = conn.execute(EXPORT_MESSAGE, (message_id,)).fetchone()
        if row is None:
            continue
        names = [
            "id",
            "createdAt",
            "updatedAt",
            "status",
            "fromEmail",
            "fromName",
            "replyTo",
            "to",
            "cc",
            "bcc",
            "subject",
            "textBody",
            "htmlBody",
            "variables",
            "metadata",
            "category",
            "sentAt",
        ]
        item: dict[str, Any] = dict(zip(names, row, strict=True))
        for key in ("to", "cc", "bcc", "variables", "metadata"):
            item[key] = rows.loads(item[key], item[key])
        item["events"] = [
            {"type": t, "at": at, "data": rows.loads(p, p)}
            for t, at, p in conn.execute(EXPORT_EVENTS, (message_id,))
        ]
        item["attachments"] = [
            {"filename": f, "contentType": c, "sizeBytes": s}
            for f, c, s in conn.execute(EXPORT_ATTACHMENTS, (message_id,))
        ]
        item["webhookDeliveries"] = [
            {"event": e, "attempt": a, "statusCode": s, "at": at}
            for e, a, s, at in conn.execute(EXPORT_DELIVERIES, (message_id,))
        ]
        out["messages"].append(item)
    out["suppressions"] = [
        {"email": e, "reason": r, "createdAt": at}
        for e, r, at in conn.execute(EXPORT_SUPPRESSIONS, (tenant_id, email))
    ]
    out["inbound"] = [
        {"kind": k, "mailFrom": f, "receivedAt": at, "summary": rows.loads(s, s)}
        for k, f, at, s in conn.execute(
            _text_rows(
                "inbound_mail",
                ("mail_from", "rcpt_to", "summary"),
                "SELECT kind, mail_from, received_at, summary",
            ),
            (tenant_id, email),
        )
    ]
    out["bounceCounts"] = [
        {"count": n, "updatedAt": at}
        for n, at in conn.execute(
            _text_rows("bounce_counts", ("email",), "SELECT count, updated_at"), (tenant_id, email)
        )
    ]
    out["scheduledJobs"] = [
        {"id": i, "name": n, "cron": c}
        for i, n, c in conn.execute(
            _text_rows("scheduled_jobs", ("payload",), "SELECT id, name, cron"), (tenant_id, email)
        )
    ]
    return out


def request_of(row: tuple[Any, ...]) -> GdprRequest:
    return rows.struct_of(GdprRequest, row, counts=rows.loads(row[6], {}))
