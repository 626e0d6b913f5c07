"""The Compaction capability (store/protocols/compaction.py) of the SQLite file."""

import asyncio

from iep_appliance.store.sqlite.db import Database, connect


class CompactionVerbs:
    db: Database

    async def compact(self) -> None:
        await asyncio.to_thread(_compact, self.db.path, self.db.synchronous)


def _compact(path: str, synchronous: str) -> None:
    """Checkpoint, VACUUM (rewrites every page, dropping freed ones) and truncate the WAL, on a
    connection of its own (the writer waits on the lock meanwhile, as for any long write)."""
    conn = connect(path, synchronous)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        for _ in range(50):
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if not busy:
                break
    finally:
        conn.close()
