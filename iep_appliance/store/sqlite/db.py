"""The SQLite connection owner: group commit on the event loop, fsync in a thread, readers.

Why this shape: SQLite allows one writer, and a commit's fsync must not block the event
loop. But running the statements in a separate writer thread makes it fight the event
loop for the GIL on every statement (each `execute` releases and re-takes it), which
halved accept throughput. So write functions run on the loop thread, where they are
short (no fsync), inside one transaction per group: every `write()` that arrives while
the previous group is committing joins the next group, each function in its own
SAVEPOINT (a function that raises rolls back alone). Only COMMIT — the fsync — runs in a
thread; the callers' futures resolve after it returns, so an awaited `write()` means
"on disk". Reads run on separate read-only connections in a small thread pool.

Several processes on one file (`iep serve --workers N`) take turns through an advisory
`flock` on `<db>-writer` around each group, held from BEGIN to COMMIT: a process that finds
it taken waits for it in the commit thread (the kernel wakes it the moment the holder's
COMMIT returns), while its callers keep joining the group it will write. SQLite's own lock
alone would make the loser poll BEGIN every few ms with the lock often free in between.
Other processes (the CLI) do not take the flock; for them the BEGIN retry below still holds.

When the disk is full or the filesystem read-only, SQLite fails the statement or the COMMIT
(SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR): every caller of that group gets
`domain.errors.StoreUnavailable`, the transaction is rolled back, and the writer carries on
with the next group, so writes succeed again as soon as space returns (no restart).
"""

import asyncio
import concurrent.futures
import contextlib
import errno
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from iep_appliance.domain.errors import StoreUnavailable
from iep_appliance.store.sqlite import files

T = TypeVar("T")
_MAX_BATCH = 2048
# Another process (a CLI command, a second handle) holding the write lock: retry the group's
# BEGIN on the loop every few ms, up to the same budget as busy_timeout, instead of blocking
# the loop or failing every caller of the group with "database is locked".
_BUSY_RETRY_SECONDS = 0.005
_BUSY_BUDGET_SECONDS = 30.0


# SQLite primary result codes that mean "the storage cannot take writes now", not a bug.
_STORAGE_CODES = {
    13: "disk full",  # SQLITE_FULL
    8: "read-only storage",  # SQLITE_READONLY
    10: "disk I/O error",  # SQLITE_IOERR
    14: "cannot open a database file",  # SQLITE_CANTOPEN
}
_STORAGE_ERRNOS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only filesystem",
    errno.EIO: "disk I/O error",
}


def storage_failure(exc: BaseException) -> StoreUnavailable | None:
    """The StoreUnavailable an SQLite or OS error stands for, or None for any other error."""
    if isinstance(exc, StoreUnavailable):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(exc, sqlite3.Error) and isinstance(code, int):
        reason = _STORAGE_CODES.get(code & 0xFF)
        if reason is not None:
            return StoreUnavailable(reason)
    if isinstance(exc, sqlite3.Error) and "disk is full" in str(exc):
        return StoreUnavailable("disk full")
    if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
        return StoreUnavailable(_STORAGE_ERRNOS[exc.errno])
    return None


def _translated(exc: BaseException) -> BaseException:
    found = storage_failure(exc)
    if found is None or found is exc:
        return exc
    found.__cause__ = exc
    return found


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back whatever is open; a failing ROLLBACK (I/O error) must not stop the writer."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def connect(path: str, synchronous: str = "FULL", readonly: bool = False) -> sqlite3.Connection:
    if not readonly:
        files.prepare(path)  # 0600 before SQLite creates it (files.py)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    if not readonly:
        files.narrow_side_files(path)  # a -wal/-shm an older version left 0644
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA cache_size=-32000")
    if readonly:
        conn.execute("PRAGMA query_only=ON")
    return conn


class Database:
    """Group-commit writer + reader pool over one SQLite file."""

    def __init__(self, path: str, synchronous: str = "FULL", commit_window_ms: float = 0.0):
        self.path = path
        self.synchronous = synchronous
        self._window = commit_window_ms / 1000.0
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._committing = False
        self._scheduled = False
        self._open = False
        self._idle: asyncio.Event | None = None
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="iep-commit")
        self._readers = ThreadPoolExecutor(max_workers=3, thread_name_prefix="iep-read")
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._owner: asyncio.AbstractEventLoop | None = None
        self.commits = 0
        self.batched_calls = 0
        self._busy_since: float | None = None
        self._turn_fd = -1  # the `<db>-writer` flock: whose turn it is to write, across processes
        self._have_turn = False
        self.turn_waits = 0

    def open(self) -> None:
        files.make_dirs(Path(self.path).parent)
        self._conn = connect(self.path, self.synchronous)
        self._turn_fd = os.open(self.path + "-writer", os.O_RDWR | os.O_CREAT, files.FILE_MODE)
        self._open = True

    def _take_turn_now(self) -> bool:
        """Take the writer turn if no other process holds it (no wait)."""
        try:
            fcntl.flock(self._turn_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._have_turn = True
        return True

    def _wait_turn(self) -> None:
        """On the commit thread: block until the other process's group is committed."""
        fcntl.flock(self._turn_fd, fcntl.LOCK_EX)

    def _end_turn(self) -> None:
        if self._have_turn:
            self._have_turn = False
            fcntl.flock(self._turn_fd, fcntl.LOCK_UN)

    def _commit(self, conn: sqlite3.Connection) -> None:
        """On the commit thread: COMMIT (the fsync), then hand the turn on."""
        try:
            conn.execute("COMMIT")
        finally:
            self._end_turn()

    def _turn_taken(self, waited: "asyncio.Future[None]") -> None:
        self._committing = False
        if waited.exception() is None:
            self._have_turn = True
        self._flush()

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one transaction right now (start-up and CLI only)."""
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
        """Run `fn(conn)` in the next group commit; return once it is durable.

        `fn` runs on the event loop thread: it must be short and must not block.

        Raises:
            RuntimeError: the store is closed.
        """
        if not self._open:
            raise RuntimeError("store is closed")
        loop = asyncio.get_running_loop()
        if self._owner is None or self._owner.is_closed():
            self._owner = loop
        if loop is not self._owner:
            # A caller on another loop/thread (a test client's portal): hand the write to the
            # owning loop, so the connection is only ever used from one thread.
            relay: concurrent.futures.Future[T] = concurrent.futures.Future()
            self._owner.call_soon_threadsafe(self._relay, fn, relay)
            return await asyncio.wrap_future(relay)
        fut: asyncio.Future[T] = loop.create_future()
        self._pending.append((fn, fut))
        if not self._committing and not self._scheduled:
            self._scheduled = True
            if self._window:
                loop.call_later(self._window, self._flush)
            else:
                loop.call_soon(self._flush)
        return await fut

    def _relay(
        self, fn: Callable[[sqlite3.Connection], T], relay: "concurrent.futures.Future[T]"
    ) -> None:
        task = asyncio.ensure_future(self.write(fn))

        def done(t: "asyncio.Future[T]") -> None:
            if t.cancelled():
                relay.cancel()
            elif t.exception() is not None:
                relay.set_exception(t.exception())
            else:
                relay.set_result(t.result())

        task.add_done_callback(done)

    async def write_alone(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in a transaction of its own on the commit thread; return once durable.

        For a long write that must not hold the event loop (a 10,000-message batch): groups
        queued meanwhile wait for it, as they wait for a commit. `fn` raising rolls it back.
        """
        return await self.write(_Alone(fn))

    def _flush(self) -> None:
        self._scheduled = False
        if self._committing:
            return
        if not self._pending:
            self._next()
            return
        if isinstance(self._pending[0][0], _Alone):
            self._flush_alone()
            return
        size = _MAX_BATCH  # a group stops before the next write_alone
        for i, (fn, _fut) in enumerate(self._pending[:_MAX_BATCH]):
            if isinstance(fn, _Alone):
                size = i
                break
        loop = asyncio.get_running_loop()
        if not self._have_turn and not self._take_turn_now():
            # Another worker is writing: wait for its COMMIT off the loop; writes that arrive
            # meanwhile join this group (the waiting counts as committing).
            self.turn_waits += 1
            self._committing = True
            waited = loop.run_in_executor(self._committer, self._wait_turn)
            waited.add_done_callback(self._turn_taken)
            return
        batch, self._pending = self._pending[:size], self._pending[size:]
        conn = self._conn
        results: list[tuple[asyncio.Future[Any], bool, Any]] = []
        try:
            self._begin(conn)
        except sqlite3.OperationalError as exc:
            self._end_turn()
            if self._retry_busy(exc, batch, loop):
                return
            self._resolve([(fut, False, exc) for _fn, fut in batch])
            self._next()
            return
        self._busy_since = None
        try:
            try:
                # Optimistic: no SAVEPOINT per call (two statements each). If any call raises,
                # the whole group is rolled back and run again with one SAVEPOINT per call, so
                # a failing call still rolls back alone. Write functions are pure database
                # work, so running them twice is safe.
                results = [(fut, True, fn(conn)) for fn, fut in batch]
            except Exception:
                _rollback(conn)
                self._begin(conn)
                results = self._run_isolated(conn, batch)
        except Exception as exc:  # BEGIN failed or the connection broke: nothing is durable
            _rollback(conn)
            self._end_turn()
            self._resolve([(fut, False, exc) for _fn, fut in batch])
            self._next()
            return
        self._committing = True
        done = loop.run_in_executor(self._committer, self._commit, conn)
        done.add_done_callback(lambda f: self._committed(f, conn, results))

    @staticmethod
    def _run_isolated(
        conn: sqlite3.Connection,
        batch: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]],
    ) -> list[tuple[asyncio.Future[Any], bool, Any]]:
        results: list[tuple[asyncio.Future[Any], bool, Any]] = []
        for fn, fut in batch:
            conn.execute("SAVEPOINT call")
            try:
                value = fn(conn)
            except Exception as exc:  # the caller gets its own exception
                conn.execute("ROLLBACK TO call")
                conn.execute("RELEASE call")
                results.append((fut, False, exc))
            else:
                conn.execute("RELEASE call")
                results.append((fut, True, value))
        return results

    def _retry_busy(
        self,
        exc: sqlite3.OperationalError,
        batch: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]],
        loop: asyncio.AbstractEventLoop,
    ) -> bool:
        """Put the group back and try BEGIN again shortly, while within the busy budget."""
        if "locked" not in str(exc) and "busy" not in str(exc):
            return False
        now = loop.time()
        if self._busy_since is None:
            self._busy_since = now
        if now - self._busy_since > _BUSY_BUDGET_SECONDS:
            self._busy_since = None
            return False
        self._pending = batch + self._pending
        self._scheduled = True
        loop.call_later(_BUSY_RETRY_SECONDS, self._flush)
        return True

    def _begin(self, conn: sqlite3.Connection) -> None:
        # Another process (a CLI command) may hold the write lock: never wait on the loop.
        conn.execute("PRAGMA busy_timeout=0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            conn.execute("PRAGMA busy_timeout=30000")
            raise
        conn.execute("PRAGMA busy_timeout=30000")

    def _committed(
        self,
        done: "asyncio.Future[Any]",
        conn: sqlite3.Connection,
        results: list[tuple[asyncio.Future[Any], bool, Any]],
    ) -> None:
        self._committing = False
        exc = done.exception()
        if exc is not None:  # e.g. SQLITE_FULL: nothing of the group is durable
            _rollback(conn)
            results = [(fut, False, exc) for fut, _ok, _v in results]
        else:
            self.commits += 1
            self.batched_calls += len(results)
        self._resolve(results)
        self._next()

    def _flush_alone(self) -> None:
        (alone, fut), self._pending = self._pending[0], self._pending[1:]
        assert isinstance(alone, _Alone)  # _flush only calls this for one
        self._committing = True
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(self._committer, self._run_alone, alone.fn)

        def finished(f: "asyncio.Future[Any]") -> None:
            self._committing = False
            exc = f.exception()
            if exc is None:
                self.commits += 1
                self.batched_calls += 1
            self._resolve([(fut, exc is None, exc if exc is not None else f.result())])
            self._next()

        done.add_done_callback(finished)

    def _run_alone(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        conn = self._conn
        if not self._have_turn:
            self._wait_turn()
            self._have_turn = True
        try:
            conn.execute("BEGIN IMMEDIATE")  # on the commit thread: busy_timeout may wait here
            try:
                value = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        finally:
            self._end_turn()
        return value

    def _next(self) -> None:
        if self._pending and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        elif not self._pending and self._idle is not None:
            self._idle.set()

    @staticmethod
    def _resolve(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
        for fut, ok, value in results:
            if fut.done():
                continue
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(_translated(value))

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._readers, self._read, fn)
        except (sqlite3.Error, OSError) as exc:
            found = storage_failure(exc)
            if found is None:
                raise
            raise found from exc

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

    async def close(self) -> None:
        """Let queued writes commit, then close every connection."""
        while self._committing or self._pending or self._scheduled:
            self._idle = asyncio.Event()
            if not (self._committing or self._scheduled) and self._pending:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._flush)
            await self._idle.wait()
        self._open = False
        await asyncio.to_thread(self.close_sync)

    def close_sync(self) -> None:
        self._open = False
        self._committer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        if self._turn_fd >= 0:
            os.close(self._turn_fd)  # releases the turn, if held
            self._turn_fd = -1
        with self._lock:
            for c in self._reader_conns:
                c.close()
            self._reader_conns.clear()
        if hasattr(self, "_conn"):
            self._conn.close()
            del self._conn


class _Alone:
    """A `write_alone` function in the pending list (run in its own transaction)."""

    def __init__(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        self.fn = fn

    def __call__(self, conn: sqlite3.Connection) -> Any:
        return self.fn(conn)
