"""`iep store copy`: an appliance's SQLite file into PostgreSQL, table by table.

Rows are read from one SQLite read transaction (a consistent snapshot, taken while the appliance
may still run) and upserted on their primary key in batches, so a run that stops halfway is
resumed by running it again, and a second run after the source stopped brings every row that
changed meanwhile up to date. Identity sequences are moved past the copied ids. The result is
verified: the row count of every table on both sides, side by side.

The table list is read from the SQLite file itself (parents before the tables that reference
them); PostgreSQL's schema is made by its own migrations first, so a table missing there is an
error, never a guess.
"""

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

from iep_appliance.domain.store_copy import TableCount
from iep_appliance.store.postgres.db import PgDatabase
from iep_appliance.store.postgres.migrate import migrate

Progress = Callable[[str], None]
_SKIP = {"sqlite_sequence", "ready_probe"}
_RESERVED = {"window"}


def _quote(name: str) -> str:
    return f'"{name}"' if name in _RESERVED else name


def _tables(src: sqlite3.Connection) -> list[str]:
    names = [
        r[0]
        for r in src.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid"
        ).fetchall()
        if r[0] not in _SKIP and not r[0].startswith("sqlite_")
    ]
    # Referenced tables first: tenants before api_keys and messages, messages before attachments.
    parents = {
        t: {r[2] for r in src.execute(f"PRAGMA foreign_key_list({t})")} & set(names) for t in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        for t in names:
            if t not in ordered and parents[t] <= set(ordered) | {t}:
                ordered.append(t)
    return ordered


def _columns(src: sqlite3.Connection, table: str) -> tuple[list[str], list[str]]:
    info = src.execute(f"PRAGMA table_info({table})").fetchall()
    cols = [r[1] for r in info]
    key = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5] > 0]
    return cols, key


def _batches(
    src: sqlite3.Connection, table: str, cols: list[str], key: list[str], size: int
) -> Iterator[list[tuple[Any, ...]]]:
    order = ", ".join(key) if key else "rowid"
    cur = src.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}")
    while rows := cur.fetchmany(size):
        yield rows


def _upsert(table: str, cols: list[str], key: list[str]) -> str:
    names = ", ".join(_quote(c) for c in cols)
    marks = ", ".join(["%s"] * len(cols))
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
    rest = [c for c in cols if c not in key]
    if not key:
        return sql
    target = ", ".join(_quote(c) for c in key)
    if not rest:
        return f"{sql} ON CONFLICT ({target}) DO NOTHING"
    sets = ", ".join(f"{_quote(c)} = EXCLUDED.{_quote(c)}" for c in rest)
    return f"{sql} ON CONFLICT ({target}) DO UPDATE SET {sets}"


def copy_sqlite_to_postgres(
    sqlite_path: str, target: PgDatabase, progress: Progress, batch: int = 2000
) -> list[TableCount]:
    """Copy every table of `sqlite_path` into `target` (migrated first); the counts after."""
    dest = target.connect()
    try:
        migrate(dest)
        src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True, isolation_level=None)
        try:
            src.execute("BEGIN")  # one snapshot for the whole copy
            tables = _tables(src)
            for table in tables:
                cols, key = _columns(src, table)
                total = src.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                sql, done = _upsert(table, cols, key), 0
                for rows in _batches(src, table, cols, key, batch):
                    with dest.transaction(), dest.cursor() as cur:
                        cur.executemany(sql, rows)
                    done += len(rows)
                    progress(f"{table}: {done}/{total} rows")
                if total == 0:
                    progress(f"{table}: 0/0 rows")
                if "id" in cols and key == ["id"]:
                    _advance_identity(dest, table)
            counts = [
                TableCount(
                    table=t,
                    source=src.execute(f"SELECT count(*) FROM {t}").fetchone()[0],
                    target=_pg_count(dest, t),
                )
                for t in tables
            ]
            src.execute("COMMIT")
            return counts
        finally:
            src.close()
    finally:
        dest.close()


def _pg_count(dest: psycopg.Connection[Any], table: str) -> int:
    found = dest.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(found[0]) if found else 0


def _advance_identity(dest: psycopg.Connection[Any], table: str) -> None:
    found = dest.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()
    seq = found[0] if found else None
    if seq:
        dest.execute(
            f"SELECT setval(%s, greatest(coalesce((SELECT max(id) FROM {table}), 0), 1))",
            (seq,),
        )
