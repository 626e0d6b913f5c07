"""The SQLite connection owner: one writer thread with group commit, a pool of readers.

Why a thread: SQLite allows one writer at a time, and fsync must not block the event
loop. Callers hand the writer a function; it gathers every function queued while the
previous commit was running, runs each inside its own SAVEPOINT of one transaction,
commits once (one fsync), and only then resolves the callers' futures. So an awaited
`write()` means "on disk", and a function that raises rolls back alone.
Reads run on separate read-only connections in a small thread pool.
"""

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
_STOP = object()
_MAX_BATCH = 512


def connect(path: str, synchronous: str = "FULL", readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA cache_size=-32000")
    if readonly:
        conn.execute("PRAGMA query_only=ON")
    return conn


class Database:
    """Writer thread + reader pool over one SQLite file."""

    def __init__(self, path: str, synchronous: str = "FULL", commit_window_ms: float = 0.0):
        self.path = path
        self.synchronous = synchronous
        self._window = commit_window_ms / 1000.0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._readers = ThreadPoolExecutor(max_workers=3, thread_name_prefix="iep-read")
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.commits = 0
        self.batched_calls = 0

    def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(self.path, self.synchronous)
        self._thread = threading.Thread(target=self._run, name="iep-writer", daemon=True)
        self._thread.start()

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one transaction right now (start-up and CLI only, writer not running)."""
        assert self._thread is None or not self._thread.is_alive()
        conn = self._conn if hasattr(self, "_conn") else connect(self.path, self.synchronous)
        self._conn = conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in the next group commit; return once it is durable."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, fut, loop))
        return await fut

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read, fn)

    def read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._read(fn)

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, self.synchronous, readonly=True)
            self._local.conn = conn
            with self._lock:
                self._reader_conns.append(conn)
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            conn.execute("COMMIT")

    def _run(self) -> None:
        conn = self._conn
        q = self._queue
        while True:
            item = q.get()
            if item is _STOP:
                return
            batch = [item]
            deadline = time.monotonic() + self._window if self._window else 0.0
            stop = False
            while len(batch) < _MAX_BATCH:
                try:
                    if deadline:
                        remaining = deadline - time.monotonic()
                        nxt = q.get(timeout=remaining) if remaining > 0 else q.get_nowait()
                    else:
                        nxt = q.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(conn, batch)
            if stop:
                return

    def _commit(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        results: list[tuple[asyncio.Future[Any], asyncio.AbstractEventLoop, bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, fut, loop in batch:
                conn.execute("SAVEPOINT call")
                try:
                    value = fn(conn)
                except BaseException as exc:  # the caller gets its own exception
                    conn.execute("ROLLBACK TO call")
                    conn.execute("RELEASE call")
                    results.append((fut, loop, False, exc))
                else:
                    conn.execute("RELEASE call")
                    results.append((fut, loop, True, value))
            conn.execute("COMMIT")
            self.commits += 1
            self.batched_calls += len(batch)
        except BaseException as exc:  # commit failed: nobody's work is durable
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            results = [(fut, loop, False, exc) for fn, fut, loop in batch]
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for r in results:
            by_loop.setdefault(r[1], []).append(r)
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve_all, items)
            except RuntimeError:  # loop closed: the caller is gone
                pass

    async def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            await asyncio.to_thread(self._thread.join)
        self.close_sync()

    def close_sync(self) -> None:
        self._readers.shutdown(wait=True)
        with self._lock:
            for c in self._reader_conns:
                c.close()
            self._reader_conns.clear()
        if hasattr(self, "_conn"):
            self._conn.close()
            del self._conn


def _resolve_all(items: list[Any]) -> None:
    for fut, _loop, ok, value in items:
        if fut.done():
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)
