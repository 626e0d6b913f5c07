"""`iep serve --workers N` (issue 19, DESIGN §10.6): one supervisor, N worker processes.

What runs: the supervisor migrates the store, binds the listening socket once and starts N
workers — the same executable (`python -m iep_appliance serve …`, or the one-file binary
itself), each told its role in `IEP_WORKER=i/N` and handed the socket's descriptor. Every
worker is a whole appliance (HTTP + delivery + webhooks) on the same SQLite store; worker 0
also runs the singletons (worker_role.py). Worker 0 starts first and alone (migrations,
first-start credentials, DKIM keys), the others once it is ready; when all are, the
supervisor prints the "IEP listening on …" line.

Why one shared socket (not SO_REUSEPORT): connections wait in one accept queue, so a worker
killed with connections queued for it loses none (with SO_REUSEPORT the kernel drops the
queue of a closed socket); it works with `port = 0`, and the port stays bound while a
worker restarts.

Signals: SIGTERM/SIGINT → SIGTERM to every worker (each drains as a single process does:
http_server.py, runtime.py) and exit once all have; a second one is passed on too (skip the
drain). SIGHUP → passed to every worker (each re-reads the config; `workers` itself needs a
restart). A worker that dies is restarted (same index; worker 0 takes the singletons back)
and, at its start, releases the leases its predecessor held. A SIGKILL of the supervisor
kills the workers too (PR_SET_PDEATHSIG in each): a restart then recovers as after a crash.
"""

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from iep_appliance.config import Config
from iep_appliance.logs import event
from iep_appliance.worker_role import WorkerRole

log = logging.getLogger("iep.supervisor")
LISTEN_FD_ENV = "IEP_LISTEN_FD"
READY_FD_ENV = "IEP_READY_FD"
SUPERVISOR_ENV = "IEP_SUPERVISOR_PID"
BIND_RETRY_SECONDS = 10.0  # a previous run's workers may still be closing the port
RESTART_BACKOFF = (0.1, 1.0, 2.0, 5.0)  # after 1, 2, 3, 4+ quick deaths in a row
QUICK_DEATH_SECONDS = 10.0


def worker_count(requested: int) -> int:
    """`0` = one per core."""
    return requested if requested > 0 else max(1, len(os.sched_getaffinity(0)))


def worker_command(argv: list[str]) -> list[str]:
    """The same executable: the one-file binary runs itself, a Python install the module."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *argv]
    return [sys.executable, "-m", "iep_appliance", *argv]


def bind(host: str, port: int, wait_seconds: float) -> socket.socket:
    """The listening socket, inheritable; retried while the port is still taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + wait_seconds
    while True:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        sock.listen(2048)
        sock.set_inheritable(True)
        return sock


class _Worker:
    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = asyncio.Event()
        self.started_at = 0.0
        self.quick_deaths = 0


class Supervisor:
    def __init__(self, cfg: Config, count: int, argv: list[str]) -> None:
        self.cfg = cfg
        self.count = count
        self.argv = argv  # `serve --config …` without --workers/--port
        self.workers = [_Worker(i) for i in range(count)]
        self.stopping = False
        self.running = False  # every worker was ready once: from now on, restart the dead
        self._signals = 0
        self._done = asyncio.Event()

    # ---- start ---------------------------------------------------------------------------

    def prepare(self) -> None:
        """Migrate once (the workers then find the schema current) and clear old metrics."""
        from iep_appliance.clock import Clock
        from iep_appliance.metrics import MULTIPROC_ENV
        from iep_appliance.store.sqlite.store import SqliteStore

        SqliteStore(self.cfg.storage.path, Clock()).open_sync()
        metrics_dir = Path(self.cfg.storage.path).resolve().parent / "metrics"
        metrics_dir.mkdir(mode=0o700, exist_ok=True)
        for old in metrics_dir.glob("*.db"):
            old.unlink()
        os.environ[MULTIPROC_ENV] = str(metrics_dir)

    async def run(self, announce: Callable[[int], None]) -> int:
        loop = asyncio.get_running_loop()
        self.prepare()
        server = self.cfg.server
        self.sock = bind(server.host, server.port, BIND_RETRY_SECONDS)
        self.port = int(self.sock.getsockname()[1])
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._forward(signal.SIGHUP))
        watcher = asyncio.create_task(self._watch(), name="supervisor-watch")
        try:
            first = self.workers[0]
            self._start(first)
            if not await self._until_ready([first]):
                return self._exit_code()
            for worker in self.workers[1:]:
                self._start(worker)
            if not await self._until_ready(self.workers[1:]):
                return self._exit_code()
            self.running = True
            event(log, "supervisor.ready", workers=self.count, port=self.port)
            announce(self.port)
            await self._done.wait()
            return self._exit_code()
        finally:
            self.stopping = True
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self._forward(signal.SIGTERM)
            for worker in self.workers:
                if worker.proc is not None:
                    await asyncio.to_thread(worker.proc.wait)
            self._close_socket()

    def _start(self, worker: _Worker) -> None:
        loop = asyncio.get_running_loop()
        ready_r, ready_w = os.pipe()
        role = WorkerRole(worker.index, self.count)
        env = {
            **os.environ,
            **role.env(),
            LISTEN_FD_ENV: str(self.sock.fileno()),
            READY_FD_ENV: str(ready_w),
            SUPERVISOR_ENV: str(os.getpid()),
        }
        argv = [*self.argv, "--port", str(self.port)]
        worker.ready.clear()
        worker.proc = subprocess.Popen(
            worker_command(argv),
            env=env,
            stdin=subprocess.DEVNULL,
            pass_fds=(self.sock.fileno(), ready_w),
        )
        worker.started_at = loop.time()
        os.close(ready_w)

        def on_ready() -> None:
            try:
                data = os.read(ready_r, 64)
            except OSError:
                data = b""
            if data:
                worker.ready.set()
                return
            loop.remove_reader(ready_r)  # closed: the worker exited (or stopped)
            os.close(ready_r)

        loop.add_reader(ready_r, on_ready)
        event(log, "supervisor.worker_started", worker=worker.index, pid=worker.proc.pid)

    async def _until_ready(self, workers: list[_Worker]) -> bool:
        """True once every one of `workers` is ready; False if one exits first or we stop."""
        while not self.stopping:
            if all(w.ready.is_set() for w in workers):
                return True
            if any(w.proc is not None and w.proc.poll() is not None for w in workers):
                return False
            await asyncio.sleep(0.02)
        return False

    # ---- running -------------------------------------------------------------------------

    async def _watch(self) -> None:
        """Restart a worker that died (unless stopping); end when all exited while stopping."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.1)
            alive = [w for w in self.workers if w.proc is not None and w.proc.poll() is None]
            if self.stopping:
                if not alive:
                    self._done.set()
                    return
                continue
            if not self.running:
                continue  # starting up: _until_ready reports a death
            for worker in self.workers:
                proc = worker.proc
                if proc is None or proc.poll() is None:
                    continue
                quick = loop.time() - worker.started_at < QUICK_DEATH_SECONDS
                worker.quick_deaths = worker.quick_deaths + 1 if quick else 0
                event(
                    log,
                    "supervisor.worker_died",
                    logging.WARNING,
                    worker=worker.index,
                    pid=proc.pid,
                    code=proc.returncode,
                )
                pause = RESTART_BACKOFF[min(worker.quick_deaths, len(RESTART_BACKOFF)) - 1]
                worker.proc = None
                loop.call_later(pause if worker.quick_deaths else 0, self._restart, worker)

    def _restart(self, worker: _Worker) -> None:
        if not self.stopping and worker.proc is None:
            self._start(worker)

    def stop(self) -> None:
        self._signals += 1
        if not self.stopping:
            event(log, "supervisor.stopping", workers=self.count)
        self.stopping = True
        self._forward(signal.SIGTERM)
        # The workers' copies of the socket are all that is left: once each has closed its
        # listener in its drain, clients see "connection refused" (as with one process).
        self._close_socket()

    def _close_socket(self) -> None:
        sock = getattr(self, "sock", None)
        if sock is not None and sock.fileno() != -1:
            sock.close()

    def _forward(self, sig: int) -> None:
        for worker in self.workers:
            if worker.proc is not None and worker.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.proc.send_signal(sig)

    def _exit_code(self) -> int:
        codes = [w.proc.returncode for w in self.workers if w.proc is not None]
        return 0 if self._signals and all(c == 0 for c in codes) else 1


# ---- the worker's side ------------------------------------------------------------------


def die_with_supervisor() -> None:
    """In a worker: be killed when the supervisor dies (Linux), and exit now if it already
    has (it died before we asked)."""
    expected = os.environ.get(SUPERVISOR_ENV)
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if expected and os.getppid() != int(expected):
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C: the supervisor's


def listening_socket() -> socket.socket | None:
    fd = os.environ.get(LISTEN_FD_ENV)
    if not fd:
        return None
    sock = socket.socket(fileno=int(fd))
    sock.setblocking(False)
    return sock


def tell_ready() -> None:
    fd = os.environ.get(READY_FD_ENV)
    if fd:
        with contextlib.suppress(OSError):
            os.write(int(fd), b"ready\n")
            os.close(int(fd))
