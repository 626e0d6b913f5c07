"""SQL of the dashboard's operator sessions: kept by a SHA-256 of the session id,
never the id itself. Runs on a connection handed in by the writer or a reader; never awaits.
"""

import sqlite3

from iep_appliance.domain.dashboard import AdminSession

# A new session (its id's hash), dropping the expired ones on the way.
INSERT_SESSION = (
    "INSERT OR REPLACE INTO admin_sessions (id_hash, email, role, expires_at, created_at)"
    " VALUES (?, ?, ?, ?, ?)"
)
DELETE_EXPIRED = "DELETE FROM admin_sessions WHERE expires_at <= ?"
# A live session by its id's hash.
SELECT_SESSION = (
    "SELECT email, role, expires_at FROM admin_sessions WHERE id_hash = ? AND expires_at > ?"
)
DELETE_SESSION = "DELETE FROM admin_sessions WHERE id_hash = ?"
# Sessions of an operator (a role change or removal ends them).
DELETE_SESSIONS_OF = "DELETE FROM admin_sessions WHERE email = ?"


def save(
    conn: sqlite3.Connection, id_hash: str, email: str, role: str, expires_at: str, now: str
) -> None:
    conn.execute(DELETE_EXPIRED, (now,))
    conn.execute(INSERT_SESSION, (id_hash, email, role, expires_at, now))


def find(conn: sqlite3.Connection, id_hash: str, now: str) -> AdminSession | None:
    row = conn.execute(SELECT_SESSION, (id_hash, now)).fetchone()
    return AdminSession(email=row[0], role=row[1], expires_at=row[2]) if row else None


def drop(conn: sqlite3.Connection, id_hash: str) -> None:
    conn.execute(DELETE_SESSION, (id_hash,))


def drop_of(conn: sqlite3.Connection, email: str) -> None:
    conn.execute(DELETE_SESSIONS_OF, (email,))
