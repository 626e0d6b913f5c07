"""Worker processes (issue 19): `iep serve --workers 1` and `--workers 2` side by side, each
figure against its reference in the same run, alternating, repeated, medians.

Per repetition, for W in (1, 2), one after the other:
  accept      wrk (1 thread, 64 connections, 202s only) against `bench/bare_app.py` run as W
              SO_REUSEPORT processes (Litestar + msgspec, decodes the same body, stores
              nothing), then against the real `iep serve --workers W` with delivery running
              (outbox provider: accepting and sending, the real case);
  end to end  POST (64 keep-alive connections, bench/deliver.py's load generator) → IEP
              (smtp provider, 16 connections and delivery concurrency 32 in all: 16/W and
              32/W per worker) → Postfix `smtp-sink`, N messages;
  drain       the sink paused while a backlog is queued, then resumed: messages/s from the
              resume to the last receipt;
and once per repetition the drain reference: raw aiosmtplib + uvloop, 16 connections,
prebuilt messages (bench/references.py), same sink.

    python -m bench.workers                       # 3 repetitions, n=5000, backlog=10000
    python -m bench.workers --repeat 1 --n 2000 --backlog 4000 --duration 5
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._load import run_wrk
from bench._sink import SmtpSinkProcess
from bench.accept import BODY, _wait_http
from bench.deliver import iep_backlog_drain, iep_end_to_end, raw_reference
from tests.support.procs import ServerProcess, free_port, write_config


def bare_accept(workers: int, duration: int, connections: int) -> dict[str, Any]:
    port = free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, "bench/bare_app.py", "--port", str(port), "--reuseport"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        _wait_http(f"http://127.0.0.1:{port}/schema")
        time.sleep(2)  # every process listening (the first answering is not enough)
        url = f"http://127.0.0.1:{port}/v1/messages"
        run_wrk(url, json.dumps(BODY), connections=connections, duration=2)  # warm-up
        return run_wrk(url, json.dumps(BODY), connections=connections, duration=duration)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


def iep_accept(workers: int, duration: int, connections: int, workdir: Path) -> dict[str, Any]:
    """Accepting with delivery running (the outbox provider sends every accepted message)."""
    port = free_port()
    cfg = write_config(workdir, port, logging={"access_log": False, "level": "WARNING"})
    server = ServerProcess(cfg, port, workdir / "logs", workers=workers)
    server.start()
    try:
        server.wait_ready(timeout=120)
        text = (workdir / "data" / "initial-credentials.txt").read_text()
        key = next(line[4:] for line in text.splitlines() if line.startswith("key="))
        url = f"http://127.0.0.1:{port}/v1/messages"
        headers = {"x-api-key": key}
        run_wrk(url, json.dumps(BODY), headers, connections=connections, duration=2)
        return run_wrk(url, json.dumps(BODY), headers, connections=connections, duration=duration)
    finally:
        server.stop()


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--duration", type=int, default=8, help="seconds of each wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--n", type=int, default=5000, help="messages per end-to-end run")
    parser.add_argument("--backlog", type=int, default=10000, help="messages queued for drain")
    parser.add_argument("--skip", nargs="*", default=[], choices=["accept", "e2e", "drain"])
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, Any]]] = {}

    def keep(name: str, result: dict[str, Any]) -> None:
        runs.setdefault(name, []).append(result)
        slim = {k: v for k, v in result.items() if k not in ("command", "statuses")}
        print(json.dumps({"run": name, **slim}), flush=True)

    started = time.time()
    with (
        tempfile.TemporaryDirectory(prefix="iep-bench-workers-") as tmp_name,
        SmtpSinkProcess(Path(tmp_name) / "sink", backlog=1024) as sink,
    ):
        tmp = Path(tmp_name)
        for rep in range(args.repeat):
            if "drain" not in args.skip:
                keep("raw", raw_reference(sink, args.backlog, 16))
            for w in args.workers:
                here = tmp / f"r{rep}-w{w}"
                opts = argparse.Namespace(  # the same totals for any W: 16 SMTP connections
                    concurrency=32 // w,
                    smtp_connections=16 // w,
                    http_connections=64,
                    n=args.n,
                    backlog=args.backlog,
                    workers=w,
                )
                if "accept" not in args.skip:
                    keep(f"bare w{w}", bare_accept(w, args.duration, args.connections))
                    keep(f"accept w{w}", iep_accept(w, args.duration, args.connections, here))
                if "e2e" not in args.skip:
                    keep(f"e2e w{w}", iep_end_to_end(here, sink, opts, with_text=True))
                if "drain" not in args.skip:
                    keep(f"drain w{w}", iep_backlog_drain(here, sink, opts))

    print()
    print(f"{args.repeat} repetition(s), alternating, medians; {time.time() - started:.0f} s")
    raw = _median(runs["raw"], "msgs_per_s") if "raw" in runs else None
    if raw:
        print(f"raw aiosmtplib + uvloop, 16 connections: {raw:,.0f} msgs/s")
    for w in args.workers:
        print(f"--- workers = {w}")
        if f"accept w{w}" in runs:
            bare, iep = runs[f"bare w{w}"], runs[f"accept w{w}"]
            b_rps, i_rps = _median(bare, "ok_rps"), _median(iep, "ok_rps")
            b_p99, i_p99 = _median(bare, "p99_ms"), _median(iep, "p99_ms")
            print(
                f"accept (delivery running): {i_rps:,.0f}/s p99 {i_p99:.1f} ms;"
                f" bare {b_rps:,.0f}/s p99 {b_p99:.1f} ms;"
                f" ratio {i_rps / b_rps:.2f} (target >= 0.6), p99 {i_p99 / b_p99:.2f}x (<= 2)"
            )
        if f"e2e w{w}" in runs:
            e2e = _median(runs[f"e2e w{w}"], "msgs_per_s")
            print(f"end to end (POST -> smtp-sink, {args.n:,}): {e2e:,.0f} msgs/s")
        if f"drain w{w}" in runs and raw:
            drain = _median(runs[f"drain w{w}"], "msgs_per_s")
            print(
                f"drain ({args.backlog:,} backlog): {drain:,.0f} msgs/s = {drain / raw:.2f}x raw"
                " (target >= 0.6)"
            )


if __name__ == "__main__":
    main()
