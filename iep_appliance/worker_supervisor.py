"""`iep serve --workers N` (DESIGN §10.6): one supervisor, N worker processes.

What runs: the supervisor reserves the port and starts N workers — the same executable
(`python -m iep_appliance serve …`, or the one-file binary itself), each told its role in
`IEP_WORKER=i/N` and the address; each listens on it with SO_REUSEPORT. Every
worker is a whole appliance (HTTP + delivery + webhooks) on the same SQLite store; worker 0
also runs the singletons (worker_role.py). All start at once, but the others wait (after
their imports, the slow part) until worker 0 is ready: it alone migrates, writes the
first-start credentials and the DKIM keys. When all are ready, the supervisor prints the
"IEP listening on …" line.

Why SO_REUSEPORT (not one socket shared by descriptor): with one shared accept queue, every
worker's event loop wakes for each connection and the same one wins nearly every time (32
fresh connections in a row all went to worker 0 in a test); SO_REUSEPORT gives each worker
its own queue and the kernel spreads connections over them by their addresses. The
supervisor keeps a bound, not listening, SO_REUSEPORT socket: it holds the port (and learns
it, for `port = 0`) while workers restart, and takes no connections itself. The cost: the
few connections queued, not yet accepted, in a worker that is SIGKILLed are reset (a client
sees a reset connection and retries; no 202 was answered for them, so nothing accepted is
lost).

Signals: SIGTERM/SIGINT → SIGTERM to every worker (each drains as a single process does:
http_server.py, runtime.py) and exit once all have; a second one is passed on too (skip the
drain). SIGHUP → passed to every worker (each re-reads the config; `workers` itself needs a
restart). A worker that dies is restarted (same index; worker 0 takes the singletons back)
and, at its start, releases the leases its predecessor held. A SIGKILL of the supervisor
kills the workers too: each watches a pipe only the supervisor holds open (and, run as a
direct child, also asks for PR_SET_PDEATHSIG) and kills itself on its EOF — through the
one-file binary's bootloader too, where the worker's parent is not the supervisor. A restart
then recovers as after a crash (every 202 was committed before it was answered).
"""

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from iep_appliance.config import Config
from iep_appliance.logs import event
from iep_appliance.worker_role import WorkerRole

log = logging.getLogger("iep.supervisor")
LISTEN_ENV = "IEP_LISTEN"  # "host port" to listen on with SO_REUSEPORT
READY_FD_ENV = "IEP_READY_FD"
GO_FD_ENV = "IEP_GO_FD"  # workers 1…N-1 at the first start: wait for worker 0, after imports
LIFELINE_FD_ENV = "IEP_LIFELINE_FD"  # a pipe only the supervisor can write: EOF = it died
BIND_RETRY_SECONDS = 10.0  # a previous run's workers may still be closing the port
RESTART_BACKOFF = (0.1, 1.0, 2.0, 5.0)  # after 1, 2, 3, 4+ quick deaths in a row
QUICK_DEATH_SECONDS = 10.0


def worker_count(requested: int) -> int:
    """`0` = one per core."""
    if requested > 0:
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))  # the cores this process may run on
    except OSError:  # a seccomp filter refusing it
        return max(1, os.cpu_count() or 1)


def worker_command(argv: list[str]) -> list[str]:
    """The same executable: the one-file binary runs itself, a Python install the module."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *argv]
    return [sys.executable, "-m", "iep_appliance", *argv]


def reuseport_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def reserve(host: str, port: int, wait_seconds: float) -> socket.socket:
    """The port, bound (not listening); retried while a previous run still holds it."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return reuseport_socket(host, port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class _Worker:
    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = asyncio.Event()
        self.go: int | None = None  # the write end of its start gate, while it waits
        self.started_at = 0.0
        self.quick_deaths = 0


class WorkerSupervisor:
    def __init__(self, cfg: Config, count: int, argv: list[str]) -> None:
        self.cfg = cfg
        self.count = count
        self.argv = argv  # `serve --config …` without --workers/--port
        self.workers = [_Worker(i) for i in range(count)]
        self.stopping = False
        self.running = False  # every worker was ready once: from now on, restart the dead
        self._signals = 0
        self._done = asyncio.Event()
        self._lifeline_r, self._lifeline_w = os.pipe()  # the write end never leaves us

    # ---- start ---------------------------------------------------------------------------

    def prepare(self) -> None:
        """A fresh directory (0700) for the workers' metrics files, in the temp directory, not
        the data directory: the files are mmapped, and a write to a mapped page of a file on
        a full disk kills the process (SIGBUS). (Worker 0, started first, migrates the store.)"""
        from iep_appliance.metrics import MULTIPROC_ENV

        self.metrics_dir = tempfile.mkdtemp(prefix="iep-metrics-")
        os.environ[MULTIPROC_ENV] = self.metrics_dir

    async def run(self, announce: Callable[[int], None]) -> int:
        loop = asyncio.get_running_loop()
        self.prepare()
        server = self.cfg.server
        self.sock = reserve(server.host, server.port, BIND_RETRY_SECONDS)
        self.port = int(self.sock.getsockname()[1])
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._forward(signal.SIGHUP))
        watcher = asyncio.create_task(self._watch(), name="supervisor-watch")
        try:
            await self._start_all(announce)
        finally:
            self.stopping = True
            for worker in self.workers:  # a gated one reads EOF and exits
                if worker.go is not None:
                    os.close(worker.go)
                    worker.go = None
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            if not self._signals:  # a worker failed to start: stop the others (once)
                self._forward(signal.SIGTERM)
            for worker in self.workers:
                if worker.proc is not None:
                    await asyncio.to_thread(worker.proc.wait)
            self._close_socket()
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        codes = {w.index: w.proc.returncode for w in self.workers if w.proc is not None}
        code = self._exit_code()
        event(log, "supervisor.stopped", exitCode=code, workers=codes)
        return code

    async def _start_all(self, announce: Callable[[int], None]) -> None:
        """Start every worker, announce once all are ready, run until stopped."""
        first = self.workers[0]
        self._start(first)
        for worker in self.workers[1:]:
            self._start(worker, gated=True)
        if not await self._until_ready([first]):
            return
        for worker in self.workers[1:]:
            self._open_gate(worker)
        if not await self._until_ready(self.workers[1:]):
            return
        self.running = True
        event(log, "supervisor.ready", workers=self.count, port=self.port)
        announce(self.port)
        await self._done.wait()

    def _start(self, worker: _Worker, gated: bool = False) -> None:
        loop = asyncio.get_running_loop()
        ready_r, ready_w = os.pipe()
        fds = [ready_w, self._lifeline_r]
        gate_env = {}
        if gated:
            go_r, worker.go = os.pipe()
            fds.append(go_r)
            gate_env[GO_FD_ENV] = str(go_r)
        role = WorkerRole(worker.index, self.count)
        env = {
            **os.environ,
            **role.env(),
            LISTEN_ENV: f"{self.cfg.server.host} {self.port}",
            READY_FD_ENV: str(ready_w),
            LIFELINE_FD_ENV: str(self._lifeline_r),
            **gate_env,
        }
        argv = self.argv  # the port a worker's links name: port 0 means the one we got
        if self.cfg.server.port == 0 and "--port" not in argv:
            argv = [*argv, "--port", str(self.port)]
        worker.ready.clear()
        worker.proc = subprocess.Popen(
            worker_command(argv),
            env=env,
            stdin=subprocess.DEVNULL,
            pass_fds=fds,
        )
        worker.started_at = loop.time()
        os.close(ready_w)
        if gated:
            os.close(int(gate_env[GO_FD_ENV]))

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

    def _open_gate(self, worker: _Worker) -> None:
        if worker.go is not None:
            with contextlib.suppress(OSError):
                os.write(worker.go, b"go")
            os.close(worker.go)
            worker.go = None

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
        """0 after a signal when every worker stopped cleanly; a worker stopped while still
        starting (SIGTERM before its handlers, as a single process would be) counts as clean."""
        clean = all(
            w.proc.returncode == 0
            or (not w.ready.is_set() and w.proc.returncode == -signal.SIGTERM)
            for w in self.workers
            if w.proc is not None
        )
        return 0 if self._signals and clean else 1


# ---- the worker's side ------------------------------------------------------------------


def die_with_supervisor() -> None:
    """In a worker: die at once when the supervisor dies (even if it already has)."""
    import threading

    fd = os.environ.get(LIFELINE_FD_ENV)
    if fd and not getattr(sys, "frozen", False):
        with contextlib.suppress(Exception):  # the parent is the supervisor: the kernel's way
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if fd:

        def watch() -> None:
            with contextlib.suppress(OSError):
                while os.read(int(fd), 1):
                    pass
            os.kill(os.getpid(), signal.SIGKILL)  # like the supervisor: no shutdown code

        threading.Thread(target=watch, name="iep-lifeline", daemon=True).start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C: the supervisor's


def listening_socket() -> socket.socket | None:
    """A worker's own listener on the supervisor's port (SO_REUSEPORT)."""
    spec = os.environ.get(LISTEN_ENV)
    if not spec:
        return None
    host, _, port = spec.rpartition(" ")
    sock = reuseport_socket(host, int(port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def wait_for_gate() -> None:
    """Workers 1…N-1 at the first start: block until worker 0 is ready (exit if it failed)."""
    fd = os.environ.get(GO_FD_ENV)
    if not fd:
        return
    data = os.read(int(fd), 2)
    os.close(int(fd))
    if not data:  # the supervisor gave up (stopped, or worker 0 did not start): not an error
        raise SystemExit(0)


def tell_ready() -> None:
    fd = os.environ.get(READY_FD_ENV)
    if fd:
        with contextlib.suppress(OSError):
            os.write(int(fd), b"ready\n")
            os.close(int(fd))
