"""PostgresStore: the Store verbs over PostgreSQL, for N appliance nodes on one database.

The verbs are the SQLite backend's (`SqlVerbs`: one copy of every statement; `dialect.py` maps
SQLite's SQL to PostgreSQL's); what differs is the lifecycle (a connection pool instead of a
file, migrations under an advisory lock, wake-ups across nodes) and that it does not offer the
`Snapshots` capability: `iep backup` says to use `pg_dump` (README "Running several nodes").
"""

import asyncio
import uuid
from collections.abc import Callable

from iep_appliance.clock import Clock
from iep_appliance.store.postgres.db import PgDatabase
from iep_appliance.store.postgres.migrate import migrate
from iep_appliance.store.postgres.notify import Notifier
from iep_appliance.store.postgres.singleton import SingletonLock
from iep_appliance.store.sqlite.store import READY_PROBE, READY_PROBE_BYTES, SqlVerbs


class PostgresStore(SqlVerbs):
    def __init__(
        self,
        url: str,
        clock: Clock,
        pool_size: int = 10,
        webhook_attempts: int = 4,
        search_path: str = "",
        node: str = "",
        node_id: str | None = None,
    ) -> None:
        self.node_id = node_id  # the lease owner this store claims as (None: the only process)
        self.pg = PgDatabase(url, pool_size, search_path)
        self.db = self.pg  # type: ignore[assignment]  # the verbs' `db`: same write/read verbs
        self.clock = clock
        self._listeners: list[Callable[[str], None]] = []
        self.webhook_attempts = webhook_attempts
        self.singleton_lock = SingletonLock(self.pg.connect)
        self.notifier = Notifier(self.pg.connect, node or uuid.uuid4().hex[:12], search_path)

    def open_sync(self) -> None:
        conn = self.pg.connect()
        try:
            migrate(conn)
        finally:
            conn.close()
        self.db.open()

    async def open(self) -> None:
        await asyncio.to_thread(self.open_sync)
        self.notifier.start(self._wake_local)

    async def close(self) -> None:
        await asyncio.to_thread(self.singleton_lock.release)
        await asyncio.to_thread(self.notifier.stop)
        await self.db.close()

    async def hold_singletons(self) -> bool:
        return await asyncio.to_thread(self.singleton_lock.try_acquire)

    def _notify(self, run_at: str) -> None:
        """A job became due at `run_at`: wake this node's scheduler, and the others'."""
        self._wake_local(run_at)
        self.notifier.publish(run_at)

    def _wake_local(self, run_at: str) -> None:
        for listener in self._listeners:
            listener(run_at)

    async def ping(self) -> None:
        now = self._now()
        await self.db.write(lambda c: c.execute(READY_PROBE, (now, READY_PROBE_BYTES)))
