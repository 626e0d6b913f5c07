"""Purge benchmark: `POST /v1/messages` latency without a purge and during a purge of 100,000
old messages, in the same run, against the same server.

1. Seed: the real `iep serve` starts once on a fresh data dir (first start: tenant `default`,
   a key) and stops; then N finished messages (`sent`, created and last changed 200 days ago,
   each with 3 events, its done send job and an outbox copy) are inserted with SQL in one
   transaction (the bench's shortcut: the API would take minutes to accept them).
2. The real server starts again with `storage.retention_days = 90` and
   `storage.purge_interval_seconds = STARTUP + WARMUP + BASELINE`: its housekeeping task starts
   the purge of the N messages at that moment, in `purge_batch_size` steps. (`--via cli`: the
   server never purges; `iep purge` runs as its own process beside it instead.)
3. A separate load process (open loop: a fixed rate of requests over keep-alive connections,
   latency measured from each request's scheduled time, so a stalled server cannot hide
   behind fewer requests) POSTs a 3 KB message the whole time. The bench polls `/metrics`
   (`iep_purged_rows_total{kind="messages"}`) to find when the purge starts and ends (with
   `--via cli`: the command's start and exit).
4. It prints p50/p99/max and accepted/s for the baseline window (warm-up excluded) and the
   purge window, and their ratios.

    python -m bench.purge                         # 100,000 messages, 300 req/s
    python -m bench.purge --n 20000 --rate 200    # a quick look
    python -m bench.purge --via cli               # `iep purge` beside the running server

Bounded: the load process stops at `--max-seconds`; the purge must end within it.
"""

import argparse
import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.support.procs import ServerProcess, free_port, write_config

REPO = Path(__file__).resolve().parent.parent
BODY = {
    "to": ["ada@example.net"],
    "from": {"email": "noreply@example.com", "name": "Bench"},
    "subject": "Hello {{name}}",
    "htmlBody": "<p>Hi {{name}}, your order {{order}} ships today.</p>" * 20,
    "variables": {"name": "Ada", "order": "A-1"},
    "metadata": {"category": "bench", "tags": ["purge"]},
}
STARTUP = 8  # seconds allowed for the server to become ready and the load process to start
OLD_HTML = "<p>An old receipt that went out long ago, kept until its retention ends.</p>" * 8


# ---- the load generator (its own process) ------------------------------------------------------


async def _load(port: int, key: str, rate: float, connections: int, limit: float):
    body = json.dumps(BODY, separators=(",", ":")).encode()
    request = (
        f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nx-api-key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    tickets: asyncio.Queue[float] = asyncio.Queue()
    results: list[tuple[float, float, int]] = []  # (scheduled wall time, latency ms, status)
    loop = asyncio.get_running_loop()
    offset = time.time() - loop.time()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)  # the bench says when to stop

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                due = await tickets.get()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        await reader.readexactly(int(line[15:]))
                results.append((due + offset, (loop.time() - due) * 1000, status))
        finally:
            writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    start = loop.time()
    sent = 0
    while loop.time() - start < limit and not stop.is_set():
        due = start + sent / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tickets.put_nowait(due)
        sent += 1
    await asyncio.sleep(2)  # let the last scheduled requests finish
    for w in workers:
        w.cancel()
    return {"scheduled": sent, "results": results}


def load_main(args: argparse.Namespace) -> None:
    import uvloop

    out = uvloop.run(_load(args.port, args.key, args.rate, args.connections, args.limit))
    Path(args.out).write_text(json.dumps(out))


# ---- seeding -----------------------------------------------------------------------------------

_SEED_MESSAGES = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n)
INSERT INTO messages (id, tenant_id, to_addrs, from_email, subject, html_body, rendered_subject,
    rendered_html, status, provider, attempts, max_attempts, sent_at, created_at, updated_at)
SELECT printf('00000000-0000-7000-8000-%012d', i), :tenant, '["old@example.org"]',
    'noreply@example.com', 'Your receipt', :html, 'Your receipt', :html, 'sent', 'outbox', 1, 5,
    strftime('%Y-%m-%dT%H:%M:%fZ', :base, '+' || (i / 10) || ' seconds'),
    strftime('%Y-%m-%dT%H:%M:%fZ', :base, '+' || (i / 10) || ' seconds'),
    strftime('%Y-%m-%dT%H:%M:%fZ', :base, '+' || (i / 10) || ' seconds')
FROM n
"""
_SEED_EVENTS = """
INSERT INTO events (message_id, tenant_id, type, payload, created_at)
SELECT m.id, m.tenant_id, t.type, '{}', m.created_at
FROM messages m, (SELECT 'queued' AS type UNION ALL SELECT 'processing' UNION ALL SELECT 'sent') t
WHERE m.id LIKE '00000000-0000-7000-8000-%' ORDER BY m.id
"""
_SEED_JOBS = """
INSERT INTO jobs (kind, ref_id, tenant_id, priority, run_at, attempts, max_attempts, state,
    created_at, updated_at)
SELECT 'send', id, tenant_id, 1, created_at, 1, 5, 'done', created_at, updated_at
FROM messages WHERE id LIKE '00000000-0000-7000-8000-%'
"""
_SEED_OUTBOX = """
INSERT INTO outbox (message_id, tenant_id, mime, created_at)
SELECT id, tenant_id, CAST(:html AS BLOB), created_at
FROM messages WHERE id LIKE '00000000-0000-7000-8000-%'
"""


def seed(db: Path, n: int) -> float:
    base = (datetime.now(UTC) - timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    started = time.monotonic()
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        tenant = conn.execute("SELECT id FROM tenants WHERE slug = 'default'").fetchone()[0]
        conn.execute("BEGIN")
        args = {"n": n, "tenant": tenant, "html": OLD_HTML, "base": base}
        conn.execute(_SEED_MESSAGES, args)
        conn.execute(_SEED_EVENTS)
        conn.execute(_SEED_JOBS)
        conn.execute(_SEED_OUTBOX, {"html": OLD_HTML})
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return time.monotonic() - started


# ---- the run -----------------------------------------------------------------------------------


def purged_messages(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=10, trust_env=False).text
    for line in text.splitlines():
        if line.startswith('iep_purged_rows_total{kind="messages"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def summarize(rows: list[tuple[float, float, int]], start: float, end: float) -> dict[str, Any]:
    window = [r for r in rows if start <= r[0] < end]
    latencies = sorted(r[1] for r in window)
    ok = sum(1 for r in window if r[2] == 202)

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

    seconds = max(end - start, 1e-9)
    return {
        "requests": len(window),
        "ok": ok,
        "non_202": len(window) - ok,
        "ok_per_s": ok / seconds,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "seconds": seconds,
    }


def run(opts: argparse.Namespace, tmp: Path) -> None:
    port = free_port()
    storage = {
        "retention_days": 90,
        "purge_batch_size": opts.batch,
        # The first purge is due this long after start: time to become ready and start the
        # load (STARTUP), the load's warm-up (cold key cache: one argon2 check per
        # connection), then the baseline window.
        "purge_interval_seconds": float(STARTUP + opts.warmup + opts.baseline),
    }
    if opts.via == "cli":  # the server never purges: `iep purge` runs beside it
        storage["purge_interval_seconds"] = 86400.0
    cfg = write_config(
        tmp, port, storage=storage, logging={"access_log": False, "level": "WARNING"}
    )
    server = ServerProcess(cfg, port, tmp / "logs")
    server.start()
    server.wait_ready(timeout=60)
    server.stop()
    key = next(
        line[4:]
        for line in (tmp / "data" / "initial-credentials.txt").read_text().splitlines()
        if line.startswith("key=")
    )
    seconds = seed(tmp / "data" / "iep.db", opts.n)
    size = (tmp / "data" / "iep.db").stat().st_size
    print(f"seeded {opts.n:,} old sent messages in {seconds:.1f}s (database {size / 1e6:.0f} MB)")

    out_file = tmp / "load.json"
    server.start()
    started = time.time()  # the housekeeping's first purge is due STARTUP + WARMUP + BASELINE
    try:
        server.wait_ready(timeout=60)
        load_started = time.time()
        load = subprocess.Popen(
            [
                sys.executable, "-m", "bench.purge", "load", "--port", str(port), "--key", key,
                "--rate", str(opts.rate), "--connections", str(opts.connections),
                "--out", str(out_file),
                "--limit", str(opts.max_seconds),
            ],
            cwd=REPO,
        )  # fmt: skip
        purge_start = purge_end = None
        wal, wal_max = tmp / "data" / "iep.db-wal", 0
        deadline = time.monotonic() + opts.max_seconds
        cli: subprocess.Popen[bytes] | None = None
        while time.monotonic() < deadline and load.poll() is None:
            wal_max = max(wal_max, wal.stat().st_size if wal.exists() else 0)
            now = time.time()
            if opts.via == "cli":
                if cli is None and now >= load_started + opts.warmup + opts.baseline:
                    purge_start = now
                    command = [sys.executable, "-m", "iep_appliance", "purge", "--config"]
                    cli = subprocess.Popen([*command, str(cfg)], stderr=subprocess.DEVNULL)
                elif cli is not None and cli.poll() is not None:
                    if cli.returncode != 0:
                        raise RuntimeError(f"iep purge failed ({cli.returncode})")
                    purge_end = now
                    break
            else:
                count = purged_messages(server.base_url)
                if purge_start is None and count > 0:
                    purge_start = now - 0.25  # it began within the last poll interval
                if count >= opts.n:
                    purge_end = now
                    break
            time.sleep(0.25)
        time.sleep(1)
        load.send_signal(signal.SIGTERM)
        load.wait(timeout=60)
    finally:
        server.stop()
    if purge_start is None or purge_end is None:
        raise RuntimeError(f"the purge did not finish within {opts.max_seconds}s")
    rows = json.loads(out_file.read_text())["results"]
    if load_started + opts.warmup >= purge_start - 1:
        raise RuntimeError("the purge began before the baseline window: raise STARTUP")
    baseline = summarize(rows, load_started + opts.warmup, purge_start)
    during = summarize(rows, purge_start, purge_end)
    report(opts, baseline, during, purge_end - purge_start)
    print(f"largest WAL file seen: {wal_max / 1e6:.1f} MB")
    if opts.timeline:
        print("second  requests  p50 ms  p99 ms  (0 = server start; * = purging)")
        for sec in range(int(purge_end - started) + 2):
            r = summarize(rows, started + sec, started + sec + 1)
            mark = "*" if purge_start <= started + sec + 1 and started + sec <= purge_end else ""
            print(f"{sec:6d} {r['requests']:9d} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f} {mark}")


def report(
    opts: argparse.Namespace, baseline: dict[str, Any], during: dict[str, Any], seconds: float
) -> None:
    print(
        f"purge of {opts.n:,} messages (+{3 * opts.n:,} events, {opts.n:,} jobs, {opts.n:,} "
        f"outbox rows) in {seconds:.1f}s = {opts.n / seconds:,.0f} messages/s, "
        f"batch {opts.batch}, by the {'`iep purge` command' if opts.via == 'cli' else 'server'}"
        f"; load {opts.rate:g} req/s open loop over {opts.connections} connections"
    )
    print(f"{'':18} {'requests':>9} {'202/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, r in (("without purge", baseline), ("during purge", during)):
        print(
            f"{name:18} {r['requests']:9d} {r['ok_per_s']:8.0f} {r['p50_ms']:8.1f} "
            f"{r['p99_ms']:8.1f} {r['max_ms']:8.1f}"
            + (f"  ({r['non_202']} non-202)" if r["non_202"] else "")
        )
    print(
        f"ratio during/without: p99 {during['p99_ms'] / baseline['p99_ms']:.2f}, "
        f"p50 {during['p50_ms'] / baseline['p50_ms']:.2f}, "
        f"throughput {during['ok_per_s'] / baseline['ok_per_s']:.2f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    lp = sub.add_parser("load", help="(internal) the open-loop load process")
    for name, kind in (("--port", int), ("--key", str), ("--rate", float)):
        lp.add_argument(name, type=kind, required=True)
    lp.add_argument("--connections", type=int, default=32)
    lp.add_argument("--out", required=True)
    lp.add_argument("--limit", type=float, default=300)
    parser.add_argument("--n", type=int, default=100_000, help="old messages to purge")
    parser.add_argument("--rate", type=float, default=300, help="requests per second")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=50, help="storage.purge_batch_size")
    parser.add_argument("--warmup", type=int, default=6)
    parser.add_argument("--baseline", type=int, default=12)
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument(
        "--via",
        choices=["server", "cli"],
        default="server",
        help="purge by the server's housekeeping task, or by `iep purge` beside the server",
    )
    parser.add_argument("--timeline", action="store_true", help="print per-second figures")
    opts = parser.parse_args(argv)
    if opts.command == "load":
        load_main(opts)
        return
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="iep-bench-purge-") as tmp:
        run(opts, Path(tmp))


if __name__ == "__main__":
    main()
