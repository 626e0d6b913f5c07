"""Wake-ups across nodes: LISTEN/NOTIFY on the `iep_jobs` channel.

On SQLite the process that commits a due job wakes its own scheduler. With N nodes the job may
be due on any of them, so each node, after such a commit, also sends one NOTIFY (coalesced: while
one is on its way, later ones merge into the next, carrying the earliest `run_at`), and a
listener thread per node turns the others' notifications into the same local wake-up. A lost
notification costs latency only: every scheduler still wakes at its next known `run_at`.
"""

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

CHANNEL = "iep_jobs"
log = logging.getLogger("iep.store.postgres")


class Notifier:
    def __init__(
        self, connect: Callable[[], psycopg.Connection[Any]], node: str, scope: str = ""
    ) -> None:
        self._connect = connect
        self.node = node
        # One channel per schema: appliances sharing a server in separate schemas (and the
        # tests) do not wake each other.
        self.channel = f"{CHANNEL}_{scope}" if scope else CHANNEL
        self._send_conn: psycopg.Connection[Any] | None = None
        self._pending: str | None = None
        self._sending = False
        self._stop = threading.Event()
        self._send_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_remote: Callable[[str], None] = lambda _run_at: None

    def start(self, on_remote: Callable[[str], None]) -> None:
        """Listen for other nodes' wake-ups; `on_remote(run_at)` runs on this event loop."""
        self._loop = asyncio.get_running_loop()
        self._on_remote = on_remote
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._listen, args=(ready,), name="iep-pg-listen", daemon=True
        )
        self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._send_lock:
            if self._send_conn is not None:
                with contextlib.suppress(psycopg.Error):
                    self._send_conn.close()
                self._send_conn = None

    def _listen(self, ready: threading.Event) -> None:
        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    ready.set()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5, stop_after=64):
                            node, _, run_at = note.payload.partition("|")
                            if node != self.node and self._loop is not None:
                                self._loop.call_soon_threadsafe(self._on_remote, run_at)
            except psycopg.Error:
                log.warning("store.listen_lost", exc_info=True)
                ready.set()
                self._stop.wait(1.0)  # then connect again

    def publish(self, run_at: str) -> None:
        """Tell the other nodes a job is due at `run_at` (call on the event loop)."""
        if self._pending is None or run_at < self._pending:
            self._pending = run_at
        if not self._sending:
            self._sending = True
            asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._pending is not None:
                run_at, self._pending = self._pending, None
                await asyncio.to_thread(self._send, run_at)
        except psycopg.Error:
            log.warning("store.notify_failed", exc_info=True)
        finally:
            self._sending = False

    def _send(self, run_at: str) -> None:
        if self._send_conn is None or self._send_conn.closed:
            self._send_conn = self._connect()
        try:
            self._send_conn.execute(
                "SELECT pg_notify(%s, %s)", (self.channel, f"{self.node}|{run_at}")
            )
        except psycopg.OperationalError:
            self._send_conn = None
            raise
