"""The PostgreSQL connection owner: a pool, one transaction per write, retried when it lost a race.

The verbs are the same functions the SQLite backend runs (`fn(conn)`, DB-API style); here they
get a `PgConnection`, which translates each statement (`dialect.py`) and runs it on a pooled
psycopg connection in a worker thread, never on the event loop.

Why READ COMMITTED plus share locks, not SERIALIZABLE: on SQLite one writer runs every write
function alone, and the verbs rely on it (read a status, then update it). PostgreSQL runs writes
side by side, on this node and on others. SERIALIZABLE would abort every second writer of a hot
counter row (the hourly stats, a rate window), so throughput would fall with load. Instead each
write runs in READ COMMITTED, and every plain SELECT it makes takes `FOR SHARE`: a row a write
function read cannot change before it commits; counters just wait their turn; uniqueness is
the indexes' (idempotency keys, slugs, schedule ticks). A write that lost a race (a deadlock,
a unique key another transaction just took, a serialization failure) is run again from the
start, up to `_RETRIES` times, after a short random pause: the verbs are pure functions of the
database. Claims take their rows `FOR UPDATE SKIP LOCKED`, so claimers never wait on each other.
Reads run in REPEATABLE READ READ ONLY: one snapshot per read function, as on SQLite.

Client-side binding (psycopg's ClientCursor): parameters are quoted into the statement as
SQLite binds them, untyped, so `? IS NULL` and a text column compared with a number behave as
they do there. Integers in `numeric` results (`sum(bigint)`) come back as `int`, flags as 0/1.

A database that cannot be reached, or refuses writes, raises `StoreUnavailable` (503 with
Retry-After), as a full disk does on SQLite.
"""

import asyncio
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from iep_appliance.store.postgres.connection import RACES, PgConnection, configure, unavailable
from iep_appliance.store.postgres.group_commit import GroupWriter

T = TypeVar("T")
log = logging.getLogger("iep.store.postgres")

# A write that lost a race runs again after a short random pause (so two that collided do not
# collide again in step), doubling from 1 ms to at most 50 ms; 30 tries is seconds of contention.
_RETRIES = 30
_BACKOFF_FIRST, _BACKOFF_MAX = 0.001, 0.05


class PgDatabase:
    """Same verbs as the SQLite `Database` (`write`, `write_alone`, `read`, `run_sync`, …)."""

    def __init__(self, url: str, pool_size: int = 10, search_path: str = "") -> None:
        self.url = url
        self.pool_size = pool_size
        self.search_path = search_path
        self._pool: ConnectionPool | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        # Half the pool commits groups; the rest serves reads and long writes.
        self.writer = GroupWriter(
            self.pool, self.executor, committers=int(os.environ.get("IEP_PG_COMMITTERS", "1"))
        )

    def pool(self) -> ConnectionPool:
        if self._pool is None:
            raise RuntimeError("store is closed")
        return self._pool

    def executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            raise RuntimeError("store is closed")
        return self._executor

    @property
    def commits(self) -> int:
        return self.writer.groups

    # ---- lifecycle ---------------------------------------------------------------------

    def connect(self) -> psycopg.Connection[Any]:
        """A connection of its own (migrations, LISTEN), configured as the pool's are."""
        if self.search_path:
            options = f"-c search_path={self.search_path}"
            conn = psycopg.connect(self.url, autocommit=True, options=options)
        else:
            conn = psycopg.connect(self.url, autocommit=True)
        configure(conn)
        return conn

    def open(self) -> None:
        with self._lock:
            if self._pool is not None:
                return
            kwargs: dict[str, Any] = {"autocommit": True}  # BEGIN … COMMIT said explicitly
            if self.search_path:
                kwargs["options"] = f"-c search_path={self.search_path}"
            self._pool = ConnectionPool(
                self.url,
                min_size=1,
                max_size=self.pool_size,
                kwargs=kwargs,
                configure=configure,
                open=True,
                timeout=30,
                name="iep",
            )
            self._executor = ThreadPoolExecutor(self.pool_size, thread_name_prefix="iep-pg")

    async def close(self) -> None:
        await asyncio.to_thread(self.close_sync)

    def close_sync(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        if pool is not None:
            pool.close()

    # ---- running verbs -----------------------------------------------------------------

    def _transaction(self, fn: Callable[[Any], T], readonly: bool) -> T:
        if self._pool is None:
            raise RuntimeError("store is closed")
        level = "REPEATABLE READ READ ONLY" if readonly else "READ COMMITTED"
        for attempt in range(_RETRIES):
            try:
                with self._pool.connection() as conn:
                    conn.execute(f"BEGIN ISOLATION LEVEL {level}")
                    try:
                        result = fn(PgConnection(conn, lock=not readonly))
                        conn.execute("COMMIT")
                    except BaseException:
                        if not conn.closed:
                            conn.execute("ROLLBACK")
                        raise
                    return result
            except RACES:
                if attempt == _RETRIES - 1:
                    raise
                pause = min(_BACKOFF_MAX, _BACKOFF_FIRST * 2**attempt)
                time.sleep(random.uniform(0, pause))  # a worker thread, never the event loop
            except BaseException as exc:
                found = unavailable(exc)
                if found is None or found is exc:
                    raise
                raise found from exc
        raise AssertionError("unreachable")

    def run_sync(self, fn: Callable[[Any], T]) -> T:
        """Run `fn` in one transaction right now (start-up and CLI)."""
        self.open()
        return self._transaction(fn, readonly=False)

    def read_sync(self, fn: Callable[[Any], T]) -> T:
        self.open()
        return self._transaction(fn, readonly=True)

    async def _run(self, fn: Callable[[Any], T], readonly: bool) -> T:
        if self._executor is None:
            raise RuntimeError("store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, fn, readonly)

    async def write(self, fn: Callable[[Any], T]) -> T:
        """Run `fn(conn)` in the next group commit (group_commit.py); return once committed."""
        if self._executor is None:
            raise RuntimeError("store is closed")
        result: T = await self.writer.write(fn)
        return result

    async def write_alone(self, fn: Callable[[Any], T]) -> T:
        """A long write (a 10,000-message batch) in a transaction of its own."""
        return await self._run(fn, readonly=False)

    async def read(self, fn: Callable[[Any], T]) -> T:
        return await self._run(fn, readonly=True)
