"""Which node runs the singletons (cron ticks, purge, rollups, lease sweeps): the one holding a
PostgreSQL session advisory lock.

The lock lives as long as the session that took it: a node that dies (SIGKILL, a lost network)
loses it with its connection, and the next node to try takes it over within one retry period.
No table, no heartbeat to go stale, nothing to clean up.
"""

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import psycopg

# pg_try_advisory_lock key of the singleton role ("IEP" singletons).
SINGLETON_KEY = 0x1E9_0002


class SingletonLock:
    def __init__(self, connect: Callable[[], psycopg.Connection[Any]], key: int = SINGLETON_KEY):
        self._connect = connect
        self.key = key
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        """Hold the lock (already held: True); another node holds it: False. Blocking I/O:
        call from a worker thread."""
        with self._lock:
            if self._conn is not None and self._alive(self._conn):
                return True
            self._drop()
            conn = self._connect()
            # Advisory locks are per database: the schema's hash is the second key, so two
            # installations in one database (schemas) each elect their own node.
            row = conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (self.key,)
            ).fetchone()
            if row and row[0]:
                self._conn = conn
                return True
            conn.close()
            return False

    @staticmethod
    def _alive(conn: psycopg.Connection[Any]) -> bool:
        try:
            conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def release(self) -> None:
        with self._lock:
            self._drop()  # closing the session releases its advisory locks
