"""Cluster benchmark: 1, 2 and 3 `iep serve` nodes on one PostgreSQL store against one node on
SQLite, in the same run, with what each message costs the nodes and PostgreSQL.

Per repetition, one configuration after the other (alternating, so the shared machine's drift
hits all alike), each on a fresh store:
  SQLite 1 node   the reference: `iep serve` on its own SQLite file (synchronous=FULL);
  PostgreSQL N    N `iep serve` processes (`[storage] backend = "postgresql"`, `[server]
                  node_id` n1..nN, one IEP_SECRET_KEY) on a throwaway database of the
                  PostgreSQL server named by IEP_TEST_DATABASE_URL (default
                  postgresql://postgres@127.0.0.1:5432/test), created for the run and dropped
                  after it. A database of its own, not a schema: `pg_stat_database` counts
                  commits per database, and other work shares `test`.
Every node: smtp provider → one Postfix `smtp-sink` (bench/_sink.py), `--smtp-connections`
SMTP connections and `delivery.concurrency` `--concurrency` per node (each node configured as
it would be on a machine of its own), DKIM off by default (`--dkim rsa` signs), log level
WARNING, no access log, `--workers 0` (one process per node). No attachments, so each node's
local blob directory is never read by another.

Load: after a 300-message warm-up, a separate process (`python -m bench.cluster post`, the
minimal keep-alive HTTP/1.1 client of bench/deliver.py) POSTs `--n` ~5 KB messages over 64
connections spread round-robin over the nodes' ports. One phase gives both figures:
  accept      accepted (202) / (first POST → last response), delivery running;
  end to end  delivered at the sink / (first POST → last message counted at the sink).
Each phase is bounded by `--deadline` seconds (posting, then delivery); a run that misses it
is reported with what it reached.

Cost per message, over the phase (first POST → last delivery), divided by delivered messages:
  node CPU    user + sys of the node processes (and any children), /proc/PID/stat;
  PG CPU      user + sys of the PostgreSQL server processes serving this run: the backends of
              the nodes' connections (found in pg_stat_activity by their application_name)
              plus the server's own processes (postmaster, walwriter, checkpointer, background
              writer…: found in /proc as children of the postmaster that are not client
              backends); other clients' backends are left out. A backend that exits during the
              phase loses its CPU (the nodes' pools keep theirs open);
  commits     `xact_commit` of the run's database in pg_stat_database, delta.

    python -m bench.cluster                      # n=2000, 1 repetition: ~3 minutes
    python -m bench.cluster --n 3000 --repeat 3  # medians of three
    python -m bench.cluster --nodes 1 3 --skip-sqlite
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench._sink import SmtpSinkProcess
from bench.deliver import REPO, send_body, wait_sink
from tests.support.postgres import database_url
from tests.support.procs import ServerProcess, free_port, write_config

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- the load generator (its own process): round-robin over the nodes' ports ------------------


async def _post_all(
    ports: list[int], key: str, n: int, connections: int, body: bytes
) -> dict[str, Any]:
    requests = {
        port: (
            f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nx-api-key: {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for port in ports
    }
    remaining = [n]
    statuses: dict[int, int] = {}
    per_port: dict[int, int] = {}
    length_re = re.compile(rb"content-length:\s*(\d+)", re.I)

    async def worker(port: int) -> None:
        request = requests[port]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while remaining[0] > 0:
                remaining[0] -= 1
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                match = length_re.search(head)
                if match:
                    await reader.readexactly(int(match.group(1)))
                statuses[status] = statuses.get(status, 0) + 1
                if status == 202:
                    per_port[port] = per_port.get(port, 0) + 1
        finally:
            writer.close()

    first = time.time()
    await asyncio.gather(*(worker(ports[i % len(ports)]) for i in range(connections)))
    last = time.time()
    return {"statuses": statuses, "per_port": per_port, "first_post": first, "last_response": last}


def post_main(args: argparse.Namespace) -> None:
    import uvloop

    ports = [int(p) for p in args.ports.split(",")]
    body = json.dumps(send_body(True), separators=(",", ":")).encode()
    result = uvloop.run(_post_all(ports, args.key, args.n, args.connections, body))
    print(json.dumps(result))


def post(ports: list[int], key: str, n: int, connections: int, timeout: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.cluster", "post", "--ports"]
    command += [",".join(map(str, ports)), "--key", key, "--n", str(n)]
    command += ["--connections", str(connections)]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise RuntimeError(f"posting {n} messages missed the {timeout:.0f} s deadline") from None
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {out}")
    return dict(json.loads(out.strip().splitlines()[-1]))


# ---- CPU from /proc ---------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pid: int) -> float:
    """user + sys of one process (0 if it is gone)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK if fields else 0.0


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(p) for p in (task / "children").read_text().split()]
    return out


def tree_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each process in the trees rooted at `pids`."""
    seen: dict[int, float] = {}
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen[pid] = cpu_seconds(pid)
        todo += children(pid)
    return seen


def postmaster_pid() -> int | None:
    """The PostgreSQL server's parent process, from /proc (the oldest `postgres` whose parent
    is not one)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm in ("postgres", "postmaster"):
            fields = _stat(int(entry.name))
            if fields is None:
                continue
            parent = int(fields[1])
            try:
                parent_comm = Path(f"/proc/{parent}/comm").read_text().strip()
            except OSError:
                parent_comm = ""
            if parent_comm not in ("postgres", "postmaster"):
                found.append(int(entry.name))
    return min(found) if found else None


class PgProbe:
    """PostgreSQL CPU and commits for one run's database, read before and after a phase."""

    def __init__(self, db_url: str, app_name: str) -> None:
        self.db_url = db_url
        self.app_name = app_name
        self.postmaster = postmaster_pid()
        if self.postmaster is None:
            print("warning: no postgres process in /proc: PG CPU not measured", flush=True)
        self.conn = psycopg.connect(db_url, autocommit=True)

    def close(self) -> None:
        self.conn.close()

    def _pids(self) -> list[int]:
        """Our nodes' backends and the server's own processes (no other client's backend)."""
        rows = self.conn.execute(
            "SELECT pid, backend_type, application_name FROM pg_stat_activity"
        ).fetchall()
        clients = {pid for pid, kind, _ in rows if kind == "client backend"}
        ours = [pid for pid, kind, app in rows if kind == "client backend" and app == self.app_name]
        return ours + self._server_pids(clients)

    def _server_pids(self, clients: set[int] | None = None) -> list[int]:
        if self.postmaster is None:
            return []
        if clients is None:
            rows = self.conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'"
            ).fetchall()
            clients = {pid for (pid,) in rows}
        return [self.postmaster] + [p for p in children(self.postmaster) if p not in clients]

    def sample(self) -> dict[str, Any]:
        (commits,) = self.conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone() or (0,)
        return {"cpu": {p: cpu_seconds(p) for p in self._pids()}, "commits": int(commits)}

    def delta(self, before: dict[str, Any], settle: float) -> dict[str, float]:
        """CPU now; commits after `settle` seconds (busy backends publish their counters
        about once a second, so the last commits of the phase show up late)."""
        cpu_after = {p: cpu_seconds(p) for p in self._pids()}
        cpu = sum(v - before["cpu"].get(p, 0.0) for p, v in cpu_after.items())
        time.sleep(settle)
        after = self.sample()
        # The probe's own sampling transactions (3 between the two reads) are not the nodes'.
        ours = len(self._pids()) - len(self._server_pids())
        return {
            "pg_cpu_s": cpu,
            "commits": after["commits"] - before["commits"] - 3,
            "backends": ours,
        }


# ---- one configuration ------------------------------------------------------------------------


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    extra = "&".join(f"{k}={v}" for k, v in params.items())
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


class Cluster:
    """`nodes` `iep serve` processes on one store (PostgreSQL if `pg_admin_url`, else SQLite)."""

    def __init__(
        self,
        workdir: Path,
        sink: SmtpSinkProcess,
        opts: argparse.Namespace,
        nodes: int,
        pg_admin_url: str | None,
    ) -> None:
        self.workdir = workdir
        self.admin_url = pg_admin_url
        self.database = f"iep_bench_cluster_{uuid.uuid4().hex[:12]}" if pg_admin_url else ""
        self.app_name = self.database
        self.db_url = ""
        env: dict[str, str] = {}
        storage: dict[str, Any] = {"attachments_dir": str(workdir / "attachments")}
        if pg_admin_url:
            base = _with_database(pg_admin_url, self.database)
            self.db_url = base
            env = {
                "IEP_DATABASE_URL": _with_query(base, application_name=self.app_name),
                "IEP_SECRET_KEY": secrets.token_hex(32),
            }
            storage |= {"backend": "postgresql", "pool_size": opts.pool_size}
        self.servers: list[ServerProcess] = []
        for i in range(1, nodes + 1):
            port = free_port()
            config = write_config(
                workdir / f"n{i}",
                port,
                server={"port": port, "node_id": f"n{i}"},
                storage=storage,
                delivery={"concurrency": opts.concurrency, "retry_schedule": [60, 300]},
                providers={
                    "relay": {
                        "type": "smtp",
                        "host": sink.host,
                        "port": sink.port,
                        "connections": opts.smtp_connections,
                        "timeout_seconds": 60,
                    }
                },
                routing={"default_provider": "relay"},
                logging={"access_log": False, "level": "WARNING"},
                dkim={
                    "sign": opts.dkim != "off",
                    "algorithm": "rsa" if opts.dkim == "off" else opts.dkim,
                },
            )
            self.servers.append(
                ServerProcess(config, port, workdir / f"n{i}" / "logs", env=env, workers=0)
            )
        self.key = ""

    def __enter__(self) -> "Cluster":
        if self.admin_url:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'CREATE DATABASE "{self.database}"')
        try:
            first = self.servers[0]
            first.start().wait_ready(120)  # the first node makes the schema and the tenant
            self.key = next(
                line.split("=", 1)[1]
                for line in first.stdout_text().splitlines()
                if line.startswith("key=")
            )
            for server in self.servers[1:]:
                server.start()
            for server in self.servers[1:]:
                server.wait_ready(120)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            server.stop()
        if self.admin_url:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    @property
    def pids(self) -> list[int]:
        return [s.pid for s in self.servers]


def run_config(
    tmp: Path,
    sink: SmtpSinkProcess,
    opts: argparse.Namespace,
    nodes: int,
    pg_admin_url: str | None,
) -> dict[str, Any]:
    name = f"{'PostgreSQL' if pg_admin_url else 'SQLite'} {nodes} node{'s' * (nodes > 1)}"
    workdir = tmp / f"{name.replace(' ', '-')}-{len(list(tmp.glob('*')))}"
    with Cluster(workdir, sink, opts, nodes, pg_admin_url) as cluster:
        # Warm-up: templates compiled, SMTP pools connected, caches and pools filled.
        before = sink.messages()
        warm = post(cluster.ports, cluster.key, opts.warmup, 16, opts.deadline)
        wait_sink(sink, before + warm["statuses"].get("202", 0), opts.deadline)
        time.sleep(1.5)  # PostgreSQL 15 publishes a busy backend's counters about once a second

        probe = PgProbe(cluster.db_url, cluster.app_name) if pg_admin_url else None
        try:
            pg_before = probe.sample() if probe else None
            node_before = tree_cpu(cluster.pids)
            before = sink.messages()
            posted = post(cluster.ports, cluster.key, opts.n, opts.http_connections, opts.deadline)
            accepted = posted["statuses"].get("202", 0)
            count, last = wait_sink(sink, before + accepted, opts.deadline)
            node_after = tree_cpu(cluster.pids)
            pg = probe.delta(pg_before, settle=1.5) if probe and pg_before else {}
        finally:
            if probe:
                probe.close()
    delivered = count - before
    node_cpu = sum(v - node_before.get(p, 0.0) for p, v in node_after.items())
    per = max(delivered, 1)
    result: dict[str, Any] = {
        "config": name,
        "nodes": nodes,
        "backend": "postgresql" if pg_admin_url else "sqlite",
        "n": opts.n,
        "accepted": accepted,
        "statuses": posted["statuses"],
        "accepted_per_node": list(posted["per_port"].values()),
        "delivered_at_sink": delivered,
        "complete": delivered >= accepted == opts.n,
        "accept_per_s": round(accepted / (posted["last_response"] - posted["first_post"]), 1),
        "seconds": round(last - posted["first_post"], 3),
        "msgs_per_s": round(delivered / (last - posted["first_post"]), 1),
        "node_cpu_ms_per_msg": round(1000 * node_cpu / per, 3),
    }
    if pg:
        result["pg_cpu_ms_per_msg"] = round(1000 * pg["pg_cpu_s"] / per, 3)
        result["commits_per_msg"] = round(pg["commits"] / per, 3)
        result["pg_backends_measured"] = pg["backends"]
    return result


# ---- report -----------------------------------------------------------------------------------


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return float(statistics.median(values)) if values else None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report(runs: dict[str, list[dict[str, Any]]], opts: argparse.Namespace) -> None:
    ref = runs.get("SQLite 1 node")
    ref_accept = _median(ref, "accept_per_s") if ref else None
    ref_e2e = _median(ref, "msgs_per_s") if ref else None
    print()
    print(
        f"{opts.repeat} repetition(s), medians; n={opts.n} per run; DKIM {opts.dkim};"
        f" per node: {opts.smtp_connections} SMTP connections, delivery.concurrency"
        f" {opts.concurrency}; load average {os.getloadavg()[0]:.1f}"
    )
    print()
    head = (
        "| config | accept/s | e2e msgs/s | accept vs SQLite | e2e vs SQLite "
        "| node CPU ms/msg | PG CPU ms/msg | commits/msg |"
    )
    print(head)
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, rs in runs.items():
        accept, e2e = _median(rs, "accept_per_s"), _median(rs, "msgs_per_s")
        ra = accept / ref_accept if accept and ref_accept else None
        re2e = e2e / ref_e2e if e2e and ref_e2e else None
        short = "" if all(r["complete"] for r in rs) else " (incomplete)"
        print(
            f"| {name}{short} | {_fmt(accept, ',.0f')} | {_fmt(e2e, ',.0f')}"
            f" | {_fmt(ra, '.2f')} | {_fmt(re2e, '.2f')}"
            f" | {_fmt(_median(rs, 'node_cpu_ms_per_msg'), '.2f')}"
            f" | {_fmt(_median(rs, 'pg_cpu_ms_per_msg'), '.2f')}"
            f" | {_fmt(_median(rs, 'commits_per_msg'), '.2f')} |"
        )
    pg_runs = [r for rs in runs.values() for r in rs if r.get("pg_cpu_ms_per_msg")]
    if pg_runs:
        pg_ms = statistics.median(r["pg_cpu_ms_per_msg"] for r in pg_runs)
        node_ms = statistics.median(r["node_cpu_ms_per_msg"] for r in pg_runs)
        print()
        print(
            f"projection (N nodes on N machines, medians over the PostgreSQL runs): a node core"
            f" carries ~{1000 / node_ms:,.0f} msgs/s ({node_ms:.2f} ms/msg); PostgreSQL"
            f" {pg_ms:.2f} ms/msg bounds the cluster at ~{1000 / pg_ms:,.0f} msgs/s per"
            f" database core (cores_of_db / pg_cpu_per_msg)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("post", help="(internal) the load generator")
    p.add_argument("--ports", required=True, help="comma-separated node ports")
    p.add_argument("--key", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--connections", type=int, default=64)
    parser.add_argument("--n", type=int, default=2000, help="messages per run")
    parser.add_argument("--warmup", type=int, default=300, help="messages before each run")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions; medians shown")
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--deadline", type=float, default=120, help="seconds per phase")
    parser.add_argument("--concurrency", type=int, default=32, help="delivery.concurrency/node")
    parser.add_argument("--smtp-connections", type=int, default=16, help="per node")
    parser.add_argument("--http-connections", type=int, default=64, help="in all")
    parser.add_argument("--pool-size", type=int, default=10, help="PostgreSQL pool per node")
    parser.add_argument("--dkim", choices=["off", "rsa", "ed25519"], default="off")
    parser.add_argument("--database-url", default="", help="default: IEP_TEST_DATABASE_URL")
    args = parser.parse_args(argv)
    if args.command == "post":
        post_main(args)
        return
    admin = args.database_url or database_url()
    configs: list[tuple[int, str | None]] = [] if args.skip_sqlite else [(1, None)]
    configs += [(n, admin) for n in args.nodes]
    runs: dict[str, list[dict[str, Any]]] = {}
    started = time.time()
    with (
        tempfile.TemporaryDirectory(prefix="iep-bench-cluster-") as tmp_name,
        SmtpSinkProcess(Path(tmp_name) / "sink", backlog=1024) as sink,
    ):
        for _ in range(args.repeat):
            for nodes, url in configs:
                result = run_config(Path(tmp_name), sink, args, nodes, url)
                runs.setdefault(result["config"], []).append(result)
                print(json.dumps(result), flush=True)
    print(f"{time.time() - started:.0f} s")
    report(runs, args)


if __name__ == "__main__":
    main()
