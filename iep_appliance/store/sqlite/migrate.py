"""Forward-only numbered migrations: schema/NNNN_name.sql, applied in order at start."""

import sqlite3
from importlib import resources


def schema_scripts(package: str) -> list[tuple[int, str, str]]:
    """(number, file name, text) of every schema/NNNN_name.sql of `package`, in order (the
    PostgreSQL migrations read theirs with it too)."""
    out = []
    for entry in resources.files(package).joinpath("schema").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            out.append((int(name[:4]), name, entry.read_text("utf-8")))
    return sorted(out)


def _scripts() -> list[tuple[int, str, str]]:
    return schema_scripts("iep_appliance.store.sqlite")


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration newer than the database's `user_version`. Returns their names."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    applied = []
    for number, name, sql in _scripts():
        if number <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process (a CLI command, a second start) may have applied it meanwhile.
            if conn.execute("PRAGMA user_version").fetchone()[0] >= number:
                conn.execute("COMMIT")
                continue
            for statement in _split(sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def _split(sql: str) -> list[str]:
    statements, buf = [], []
    for line in sql.splitlines():
        if line.strip().startswith("--"):
            continue
        buf.append(line)
        if line.rstrip().endswith(";") and sqlite3.complete_statement("\n".join(buf)):
            statements.append("\n".join(buf))
            buf = []
    if "".join(buf).strip():
        statements.append("\n".join(buf))
    return statements
