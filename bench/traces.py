"""Tracing benchmark (issue 18): the real `iep serve` accepting and delivering (outbox
provider, default queue live) with `[telemetry] otlp_endpoint` empty (off) and set to a local
OTLP/HTTP receiver (on), alternating off/on/off/on in the same run so load drift shows up.
wrk as in bench/accept.py; prints 202/s, p50/p99, the on/off ratio and how many spans the
receiver decoded. Run: `python -m bench.traces --duration 8`.

"No cost when off" is shown against the base tree instead: `python -m bench.accept` in this
tree and in the tree before issue 18, one after the other (bench/README.md).
"""

import argparse
import json
import tempfile
from pathlib import Path

from bench._load import run_wrk
from bench.accept import BODY
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.procs import ServerProcess, free_port, write_config


def bench(duration: int, connections: int, workdir: Path, endpoint: str) -> dict:
    port = free_port()
    cfg = write_config(
        workdir,
        port,
        logging={"access_log": False, "level": "WARNING"},
        telemetry={"otlp_endpoint": endpoint},
    )
    server = ServerProcess(cfg, port, workdir)
    server.start()
    try:
        server.wait_ready(timeout=60)
        key = next(
            line.split("=", 1)[1]
            for line in server.stdout_text().splitlines()
            if line.startswith("key=")
        )
        url = f"http://127.0.0.1:{port}/v1/messages"
        headers = {"x-api-key": key}
        run_wrk(url, json.dumps(BODY), headers, connections=connections, duration=2)
        return run_wrk(url, json.dumps(BODY), headers, connections=connections, duration=duration)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, OtlpReceiver() as otlp:
        for n, mode in enumerate(("off", "on", "off", "on")):
            endpoint = otlp.url if mode == "on" else ""
            r = bench(args.duration, args.connections, Path(tmp) / f"{n}-{mode}", endpoint)
            rows.append((mode, r))
        spans = len(otlp.spans())
    print(f"{'tracing':10} {'202/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for mode, r in rows:
        print(f"{mode:10} {r['ok_rps']:9.0f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f}")
    off = sum(r["ok_rps"] for m, r in rows if m == "off") / 2
    on = sum(r["ok_rps"] for m, r in rows if m == "on") / 2
    print(f"on/off throughput: {on / off:.2f}; spans decoded by the receiver: {spans}")


if __name__ == "__main__":
    main()
