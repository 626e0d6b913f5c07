"""Start and stop the real appliance process for end-to-end tests.

`ServerProcess` runs `python -m iep_appliance serve --config PATH` (or the binary named by
$IEP_BINARY) with stdout and stderr going to files, never pipes: a full pipe stalls a server.
`wait_ready` polls GET /ready to a monotonic deadline and raises with the captured output if the
process exits first or the deadline passes. `stop` sends SIGTERM, then SIGKILL after a grace.
`write_config` writes an iep.toml (DESIGN §6) with nested overrides merged in.

    port = free_port()
    config = write_config(tmp_path, port, delivery={"retry_schedule": [1, 2]})
    with ServerProcess(config, port, tmp_path / "logs") as server:   # started and ready
        httpx.get(f"{server.base_url}/health")
        server.kill()                                                # SIGKILL, like a crash
        server.start(); server.wait_ready()
"""

import contextlib
import copy
import json
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx

BINARY_ENV = "IEP_BINARY"
# `IEP_TEST_WORKERS=2 pytest tests/e2e`: every ServerProcess runs `iep serve --workers 2`
# (issue 19: the end-to-end tests pass with one process and with a supervisor and workers).
WORKERS_ENV = "IEP_TEST_WORKERS"
# `IEP_TEST_BACKEND=postgresql pytest tests/e2e`: every config `write_config` writes (without an
# explicit storage.backend) stores in a fresh schema of the test PostgreSQL (support/postgres).
BACKEND_ENV = "IEP_TEST_BACKEND"

BASE_CONFIG: dict[str, Any] = {
    "server": {"host": "127.0.0.1", "port": 0},
    "storage": {"path": "data/iep.db", "attachments_dir": "data/attachments"},
    "delivery": {
        "concurrency": 16,
        "retry_schedule": [60, 300, 900, 3600],
        "shutdown_grace_seconds": 30,
    },
    "providers": {"outbox": {"type": "outbox"}},
    "routing": {"default_provider": "outbox"},
}


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago, for a server process to bind by number.

    Picked below the kernel's ephemeral range, so the port-0 sinks other xdist workers start
    (and outgoing connections) are never handed it while our server restarts. Two workers
    picking the same random port is still possible but unlikely; the bind check catches a
    port in use now.
    """
    low, _ = _ephemeral_range()
    candidates = range(max(1024, low - 12000), max(2048, low - 1))
    rng = random.Random()
    for _ in range(50):
        port = rng.choice(candidates)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServerProcessError(RuntimeError):
    """The server exited early or did not become ready; the message carries its output."""


class ServerProcess:
    """One appliance process at a time; `start()` again after `stop()`/`kill()` to restart.

    Each start writes fresh `serve-N.stdout.log` / `serve-N.stderr.log` files in `log_dir`.
    """

    def __init__(
        self,
        config_path: Path,
        port: int,
        log_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        workers: int | None = None,
    ) -> None:
        self.config_path = Path(config_path)
        self.port = port
        self.log_dir = Path(log_dir)
        self.extra_env = dict(env or {})
        self.cwd = cwd
        self.workers = workers if workers is not None else int(os.environ.get(WORKERS_ENV) or 0)
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self._stdout_path: Path | None = None
        self._stderr_path: Path | None = None
        self._files: list[IO[bytes]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("server not started")
        return self.proc.pid

    def command(self) -> list[str]:
        binary = os.environ.get(BINARY_ENV)
        head = [binary] if binary else [sys.executable, "-m", "iep_appliance"]
        return [*head, "serve", "--config", str(self.config_path), *self.workers_args()]

    def workers_args(self) -> list[str]:
        """`--workers N` when this server runs N workers (`IEP_TEST_WORKERS`), else nothing:
        a subclass with its own command appends it so it runs both ways too."""
        return ["--workers", str(self.workers)] if self.workers else []

    def worker_pids(self) -> list[int]:
        """The worker processes of a supervisor (`--workers N`): its children, oldest first."""
        pid = self.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return []
        return sorted(int(p) for p in text.split())

    def start(self) -> "ServerProcess":
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"server already running (pid {self.proc.pid})")
        self._close_files()
        self.runs += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._stdout_path = self.log_dir / f"serve-{self.runs}.stdout.log"
        self._stderr_path = self.log_dir / f"serve-{self.runs}.stderr.log"
        stdout = self._stdout_path.open("wb")
        stderr = self._stderr_path.open("wb")
        self._files = [stdout, stderr]
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.extra_env},
            cwd=self.cwd,
            # Its own session: a Ctrl-C aimed at pytest does not reach it first.
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 30.0, path: str = "/ready") -> None:
        """Poll GET `path` until it answers 200; raise with the output on exit or timeout.
        With workers, N processes start on the same cores: the timeout is doubled."""
        proc = self._require_proc()
        if self.workers > 1:
            timeout *= 2
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        nodes: set[str] = set()
        # trust_env=False: a proxy variable in the environment must not capture 127.0.0.1.
        # A fresh connection each poll: SO_REUSEPORT spreads connections, not requests, over
        # the workers, so each answers in turn and names itself (`node`).
        with httpx.Client(trust_env=False, headers={"Connection": "close"}) as client:
            while True:
                code = proc.poll()
                if code is not None:
                    raise ServerProcessError(self._report(f"exited with code {code} before ready"))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ServerProcessError(
                        self._report(f"not ready within {timeout:g}s (last: {last})")
                    )
                try:
                    response = client.get(self.base_url + path, timeout=min(2.0, remaining))
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                else:
                    if response.status_code == 200 and self._all_workers_ready(response, nodes):
                        return
                    last = f"HTTP {response.status_code}: {response.text[:200]}"
                time.sleep(0.05)

    def _all_workers_ready(self, response: httpx.Response, nodes: set[str]) -> bool:
        """With a supervisor, the first worker answers before the others have started: ready
        means every worker is, or a test races a worker's start-up. Known from the log's
        `supervisor.ready` or, when the log level hides it, from every worker's own answer."""
        if not self.workers:
            return True
        with contextlib.suppress(ValueError):
            nodes.add(str(response.json().get("node")))
        return len(nodes) >= self.workers or '"supervisor.ready"' in self.stdout_text()

    def stop(self, timeout: float = 35.0) -> int | None:
        """SIGTERM, wait up to `timeout` seconds, then SIGKILL. Returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._close_files()
        return proc.returncode

    def kill(self) -> int | None:
        """SIGKILL (a crash: no shutdown code runs) and reap. Returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        self._close_files()
        return proc.returncode

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stdout_text(self) -> str:
        return _read(self._stdout_path)

    def stderr_text(self) -> str:
        return _read(self._stderr_path)

    def __enter__(self) -> "ServerProcess":
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _require_proc(self) -> "subprocess.Popen[bytes]":
        if self.proc is None:
            raise RuntimeError("server not started")
        return self.proc

    def _close_files(self) -> None:
        for handle in self._files:
            handle.close()
        self._files = []

    def _report(self, what: str) -> str:
        return (
            f"iep serve (pid {self.pid}, {' '.join(self.command())}) {what}\n"
            f"--- stdout ({self._stdout_path}) ---\n{_tail(self.stdout_text())}\n"
            f"--- stderr ({self._stderr_path}) ---\n{_tail(self.stderr_text())}"
        )


def _read(path: Path | None) -> str:
    if path is None or not path.exists():
        return ""
    return path.read_text(encoding="utf-8", errors="replace")


def _tail(text: str, limit: int = 20_000) -> str:
    return text if len(text) <= limit else "[...]\n" + text[-limit:]


# -- configuration --------------------------------------------------------------------------


def write_config(directory: Path, port: int, filename: str = "iep.toml", **overrides: Any) -> Path:
    """Write an iep.toml for `port` into `directory` and return its path.

    Each keyword names a top-level table whose dict is merged into the base config; a value of
    None removes that key. Relative paths in the file resolve against `directory`.

        write_config(tmp_path, port,
                     providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": 2525}},
                     routing={"default_provider": "relay"},
                     webhooks={"allow_private_networks": True})
    """
    config = merge_config(BASE_CONFIG, {"server": {"port": port}, **overrides})
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if test_backend() == "postgresql" and "backend" not in (overrides.get("storage") or {}):
        storage = config.setdefault("storage", {})
        url_env = pg_url_env_for(directory / str(storage.get("path", "data/iep.db")))
        storage["backend"] = "postgresql"
        storage["url_env"] = url_env
    path = directory / filename
    path.write_text(dumps_toml(config), encoding="utf-8")
    return path


def test_backend() -> str:
    """The store backend the end-to-end servers use: $IEP_TEST_BACKEND, default "sqlite"."""
    backend = os.environ.get(BACKEND_ENV, "") or "sqlite"
    if backend not in ("sqlite", "postgresql"):
        raise RuntimeError(f"{BACKEND_ENV}={backend!r}: expected sqlite or postgresql")
    return backend


# One token per pytest process: its schemas (and only they) are dropped at session end.
_SCHEMA_PREFIX = f"e2e_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}_"
# resolved SQLite path of a config -> the environment variable holding its schema's URL: a
# config rewritten for the same data directory (a restart) keeps its schema, as it keeps its file.
_PG_STORES: dict[Path, str] = {}


def pg_url_env_for(db_path: Path) -> str:
    """The url_env of the schema that stands in for the SQLite file `db_path` (created on
    first use; its URL, scoped by search_path, is put into os.environ, which servers inherit)."""
    key = Path(os.path.abspath(db_path))
    if key in _PG_STORES:
        return _PG_STORES[key]
    import psycopg

    from tests.support.postgres import database_url

    url = database_url()
    schema = f"{_SCHEMA_PREFIX}{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in url else "?"
    name = f"IEP_TEST_DB_{schema.upper()}"
    os.environ[name] = f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
    _PG_STORES[key] = name
    return name


def pg_url_for(db_path: Path) -> str | None:
    """The URL of the schema `write_config` made for the SQLite path `db_path`, or None."""
    name = _PG_STORES.get(Path(os.path.abspath(db_path)))
    return os.environ.get(name) if name else None


def drop_test_schemas() -> None:
    """Drop the schemas this pytest process made (by its own prefix); a no-op if none."""
    if not _PG_STORES:
        return
    import psycopg

    from tests.support.postgres import database_url

    with psycopg.connect(database_url(), autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
            (_SCHEMA_PREFIX.replace("_", "\\_") + "%",),
        ).fetchall()
        for (schema,) in rows:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    for name in _PG_STORES.values():
        os.environ.pop(name, None)
    _PG_STORES.clear()


def merge_config(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `overrides` into a copy of `base`; dicts merge, None deletes, else replace."""
    merged = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def dumps_toml(data: Mapping[str, Any]) -> str:
    """Serialize str/int/float/bool/list/dict (nested tables) to TOML.

    Scalars and arrays of a table come before its sub-tables; dicts inside arrays become inline
    tables. Enough for configs; tomllib reads back exactly what went in.
    """
    lines: list[str] = []
    _emit_table(lines, (), data)
    return "\n".join(lines).strip() + "\n"


def _emit_table(lines: list[str], prefix: tuple[str, ...], table: Mapping[str, Any]) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
    if prefix and (scalars or not tables):
        lines.append("")
        lines.append("[" + ".".join(_key(part) for part in prefix) + "]")
    for key, value in scalars:
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in tables:
        _emit_table(lines, (*prefix, key), value)


def _key(key: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"TOML keys are strings, got {key!r}")
    return key if _BARE_KEY.match(key) else _string(key)


def _string(text: str) -> str:
    # JSON escapes (\" \\ \n \t \u00XX) are valid TOML; ensure_ascii=False keeps astral
    # characters whole (JSON's surrogate pairs are not valid TOML); TOML also bans a raw DEL.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Path):
        return _string(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML: {value!r}")
