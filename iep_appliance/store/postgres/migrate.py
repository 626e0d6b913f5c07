"""Forward-only numbered migrations for PostgreSQL: schema/NNNN_name.sql, applied in order.

Several nodes may start at once: the first takes a transaction-scoped advisory lock and applies
what is missing; the others wait on the lock, then find nothing left to do. The applied numbers
are kept in `iep_schema_migrations` (SQLite keeps them in `PRAGMA user_version`).
"""

from typing import Any

import psycopg

from iep_appliance.store.sqlite.migrate import schema_scripts

# pg_advisory_xact_lock key: "IEP" migrations (any constant the appliance owns).
_LOCK = 0x1E9_0001


def scripts() -> list[tuple[int, str, str]]:
    return schema_scripts("iep_appliance.store.postgres")


def latest_version() -> int:
    found = scripts()
    return found[-1][0] if found else 0


def migrate(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply every migration not yet recorded. `conn` is in autocommit mode."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS iep_schema_migrations"
            " (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL"
            " DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM iep_schema_migrations")}
        for number, name, sql in scripts():
            if number in done:
                continue
            conn.execute(sql.encode())  # a whole script: one simple-protocol round trip
            conn.execute(
                "INSERT INTO iep_schema_migrations (version, name) VALUES (%s, %s)", (number, name)
            )
            applied.append(name)
    return applied


def current_version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT coalesce(max(version), 0) FROM iep_schema_migrations"
        " WHERE to_regclass('iep_schema_migrations') IS NOT NULL"
    ).fetchone()
    return int(row[0]) if row else 0
