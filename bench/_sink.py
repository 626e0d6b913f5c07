"""Postfix's `smtp-sink` as a fast SMTP sink for delivery benchmarks (never for tests).

Started as `smtp-sink -c [-u nobody] 127.0.0.1:PORT 256`, stopped by its PID. It accepts every
command, throws message content away and, with `-c`, writes running counters to stdout after
every session end, QUIT and final "." as `sess=N quit=N mesg=N` lines ended by "\\r". Stdout
goes to a file; `counters()` reads its last record. So it can count:
  - mesg: messages accepted (one per DATA transaction, whatever the number of recipients),
  - sess: SMTP sessions that ended, quit: sessions that ended with QUIT.
It cannot count recipients or check content (only `-d`/`-D` dumps can, and they are slow).
Counters are cumulative since start: take `counters()` before and after a run and subtract.
Install with scripts/bench-deps.
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SMTP_SINK = "/usr/sbin/smtp-sink"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class SmtpSinkProcess:
    """smtp-sink on 127.0.0.1 at a free port.

    with SmtpSinkProcess(workdir) as sink:
        before = sink.messages()
        ... deliver n messages to ("127.0.0.1", sink.port) ...
        sink.wait_for_messages(before + n, timeout=60)
    """

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        backlog: int = 256,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.backlog = backlog
        self.extra_args = extra_args
        self.workdir = Path(workdir)
        self.counters_path = self.workdir / f"smtp-sink-{self.port}.out"
        self.stderr_path = self.workdir / f"smtp-sink-{self.port}.err"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> "SmtpSinkProcess":
        if not os.path.exists(SMTP_SINK):
            raise RuntimeError(f"{SMTP_SINK} missing: run scripts/bench-deps")
        self.workdir.mkdir(parents=True, exist_ok=True)
        # smtp-sink refuses to run as root without -u (it drops privileges after bind).
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        command = [
            SMTP_SINK,
            "-c",
            *user,
            *self.extra_args,
            f"{self.host}:{self.port}",
            str(self.backlog),
        ]
        with self.counters_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self._wait_listening(timeout)
        return self

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.proc = None

    def __enter__(self) -> "SmtpSinkProcess":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def counters(self) -> dict[str, int]:
        """The last `sess/quit/mesg` record, e.g. {"sess": 17, "quit": 16, "mesg": 5000}."""
        try:
            with self.counters_path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 512))
                tail = handle.read().decode("ascii", errors="replace")
        except FileNotFoundError:
            return {"sess": 0, "quit": 0, "mesg": 0}
        # The last piece may be a record still being written: only terminated ones count.
        pieces = tail.replace("\n", "\r").split("\r")[:-1]
        records = [r for r in pieces if r.startswith("sess=") and r.count("=") == 3]
        if not records:
            return {"sess": 0, "quit": 0, "mesg": 0}
        fields = dict(part.split("=", 1) for part in records[-1].split())
        return {name: int(value) for name, value in fields.items()}

    def messages(self) -> int:
        return self.counters().get("mesg", 0)

    def wait_for_messages(self, target: int, timeout: float = 60.0) -> int:
        """Poll the counter until it reaches `target`; returns the count (may be short)."""
        deadline = time.monotonic() + timeout
        count = self.messages()
        while count < target and time.monotonic() < deadline:
            time.sleep(0.02)
            count = self.messages()
        return count

    def _wait_listening(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"smtp-sink exited with {self.proc.returncode}: "
                    + self.stderr_path.read_text(errors="replace")
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"220"):
                        return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"smtp-sink not listening on {self.host}:{self.port} in {timeout}s")
