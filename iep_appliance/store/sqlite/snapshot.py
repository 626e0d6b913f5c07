"""Online copies of the SQLite file (backups) and checks of a copy. Blocking: callers
run these in a thread.

`copy_database` uses SQLite's online backup API in steps (progress after each), holding ONE
read transaction on the source for every step: in WAL mode the server's writer keeps
committing meanwhile, the copy is exactly the database as of that transaction's start, and
the backup never restarts (SQLite restarts a stepped backup when another connection writes
between steps, unless the source keeps its read snapshot open, as here).
"""

import sqlite3
from collections.abc import Callable

from iep_appliance.domain.retention import SnapshotInfo
from iep_appliance.store.sqlite import files

# Tables whose row counts a manifest records (and a restore compares).
COUNTED = ("tenants", "api_keys", "messages", "events", "jobs", "attachments", "outbox")
PAGES_PER_STEP = 4096  # 16 MB of 4 KB pages between progress reports
ATTACHMENT_KEYS = "SELECT DISTINCT storage_key FROM attachments ORDER BY storage_key"
FORGET_ATTACHMENTS = "DELETE FROM attachments WHERE storage_key IN "


def copy_database(
    src_path: str,
    dest_path: str,
    progress: Callable[[int, int], None] | None = None,
    pages_per_step: int = PAGES_PER_STEP,
) -> SnapshotInfo:
    """Copy the live database at `src_path` into a new file `dest_path`; report
    `progress(pages_done, pages_total)` after every step. Returns the copy's counts."""
    src = sqlite3.connect(src_path, isolation_level=None, timeout=30.0)
    files.prepare(dest_path)  # the copy is as private as the database (files.py)
    dest = sqlite3.connect(dest_path, isolation_level=None)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts here

        def step(_status: int, remaining: int, total: int) -> None:
            if progress is not None:
                progress(total - remaining, total)

        src.backup(dest, pages=pages_per_step, progress=step)
        src.execute("COMMIT")
    finally:
        src.close()
        dest.close()
    return inspect(dest_path, check=False)


def attachment_keys(path: str) -> list[str]:
    """The blob keys a snapshot's attachment rows refer to (what its archive must carry)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        return [r[0] for r in conn.execute(ATTACHMENT_KEYS)]
    finally:
        conn.close()


def forget_attachments(path: str, keys: list[str]) -> SnapshotInfo:
    """Delete the attachment rows of `keys` from a snapshot file; its counts afterwards."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            conn.execute(FORGET_ATTACHMENTS + "(" + ",".join("?" * len(chunk)) + ")", chunk)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return inspect(path, check=False)


def inspect(path: str, check: bool = True) -> SnapshotInfo:
    """Schema version, row counts and (with `check`) PRAGMA integrity_check of a database
    file, opened read-only. Raises ValueError when it is not a readable SQLite database."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise ValueError(f"cannot open the database: {exc}") from None
    try:
        verdict = "unchecked"
        if check:
            found = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            verdict = "ok" if found == ["ok"] else "; ".join(found[:5])
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        counts = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # fixed table names
            for t in COUNTED
            if t in tables
        }
    except sqlite3.Error as exc:
        raise ValueError(f"not a usable SQLite database: {exc}") from None
    finally:
        conn.close()
    return SnapshotInfo(version, counts, verdict)


def latest_schema_version() -> int:
    """The newest migration this release applies (a backup from a newer one is refused)."""
    from iep_appliance.store.sqlite.migrate import _scripts

    return max(number for number, _name, _sql in _scripts())
