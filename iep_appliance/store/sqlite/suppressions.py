"""All SQL for a tenant's suppression list. Runs on a connection handed in by the writer or a
reader; never awaits. Addresses are stored lower-cased, so lookups compare case-insensitively.
Automatic entries (hard bounces past domain/bounces.py's threshold) are written by
`jobs.count_hard_bounce`."""

import sqlite3

from iep_appliance.domain.models import Suppression

COLUMNS = "email, reason, source_message_id, created_at"
# One page of a tenant's list in address order (the primary key), after a cursor address,
# optionally filtered by a substring (`\` escapes LIKE's wildcards).
SELECT_PAGE = (
    f"SELECT {COLUMNS} FROM suppression_list WHERE tenant_id = ? AND email > ?"
    " AND (? IS NULL OR email LIKE '%' || ? || '%' ESCAPE '\\') ORDER BY email LIMIT ?"
)
SELECT_ONE = f"SELECT {COLUMNS} FROM suppression_list WHERE tenant_id = ? AND email = ?"
# A manual entry never replaces an existing one (an automatic entry keeps its source message).
INSERT = (
    "INSERT OR IGNORE INTO suppression_list (tenant_id, email, reason, source_message_id,"
    " created_at) VALUES (?, ?, ?, NULL, ?)"
)
DELETE = "DELETE FROM suppression_list WHERE tenant_id = ? AND email = ?"
# Un-suppressing starts the hard-bounce count afresh, or the next bounce would re-suppress.
RESET_BOUNCES = "DELETE FROM bounce_counts WHERE tenant_id = ? AND email = ?"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_page(
    conn: sqlite3.Connection, tenant_id: str, search: str | None, after: str, limit: int
) -> list[Suppression]:
    pattern = _like_escape(search.lower()) if search else None
    rows = conn.execute(SELECT_PAGE, (tenant_id, after, pattern, pattern, limit))
    return [Suppression(*row) for row in rows]


def add(
    conn: sqlite3.Connection, tenant_id: str, emails: list[str], reason: str, now: str
) -> list[Suppression]:
    """Insert the (lower-cased) addresses; return every one's entry, new or existing."""
    conn.executemany(INSERT, [(tenant_id, e, reason, now) for e in emails])
    return [Suppression(*conn.execute(SELECT_ONE, (tenant_id, e)).fetchone()) for e in emails]


def remove(conn: sqlite3.Connection, tenant_id: str, email: str) -> bool:
    if conn.execute(DELETE, (tenant_id, email)).rowcount != 1:
        return False
    conn.execute(RESET_BOUNCES, (tenant_id, email))
    return True
