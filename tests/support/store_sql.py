"""Read (or poke) an end-to-end server's store directly, on whichever backend it runs.

`write_config` gives every config a SQLite file, or under IEP_TEST_BACKEND=postgresql a schema of
the test PostgreSQL standing in for that file. `query` takes the file's path (or its data
directory, or the config) and runs portable SQL there; `?` placeholders become `%s` on
PostgreSQL. Statements other than SELECT are committed.

    rows = query(tmp_path / "data" / "iep.db", "SELECT status FROM messages WHERE id = ?", [mid])
"""

import sqlite3
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import pg_url_for, test_backend


def db_path(where: Path) -> Path:
    """The SQLite path `where` names: the file, `<dir>/iep.db`, or a config's storage.path."""
    where = Path(where)
    if where.suffix == ".toml":
        storage = tomllib.loads(where.read_text(encoding="utf-8")).get("storage", {})
        path = Path(storage.get("path", "data/iep.db"))
        return path if path.is_absolute() else where.parent / path
    if where.is_dir():
        return where / "iep.db"
    return where


def is_postgresql(where: Path) -> bool:
    return pg_url_for(db_path(where)) is not None


def query(where: Path, sql: str, params: Sequence[Any] = (), *, timeout: float = 30) -> list[Any]:
    """The rows (tuples) `sql` returns on the store behind `where`; [] for a statement."""
    path = db_path(where)
    url = pg_url_for(path)
    if url is None:
        if test_backend() == "postgresql" and not path.exists():
            raise FileNotFoundError(f"{path}: no SQLite file and no PostgreSQL schema for it")
        read_only = sql.lstrip().upper().startswith("SELECT")
        target = f"file:{path}?mode=ro" if read_only else str(path)
        conn = sqlite3.connect(target, uri=read_only, timeout=timeout)
        try:
            cursor = conn.execute(sql, tuple(params))
            rows = cursor.fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=int(timeout)) as conn:
        cursor = conn.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(params))
        return cursor.fetchall() if cursor.description is not None else []


def sqlite_only(reason: str) -> pytest.MarkDecorator:
    """Skip under IEP_TEST_BACKEND=postgresql: the test is about the SQLite file itself."""
    return pytest.mark.skipif(
        test_backend() == "postgresql", reason=f"about the SQLite store: {reason}"
    )
