"""Accept benchmark: durable `POST /v1/messages` against a bare Litestar endpoint, same run.

Starts the real server (`python -m iep_appliance serve`, synchronous=FULL, outbox provider)
on a fresh data dir, once with the tenant's `default` queue paused (accepting only) and once
live (accepting and delivering on the same core), and `bench/bare_app.py` (decodes the same
body into the same Struct, answers 202, stores nothing). Drives both with wrk (64 connections, one
thread, separate process), counting only 202s, and prints accepted msgs/s, p50/p99 and the
ratios. Run: `python -m bench.accept --duration 10`.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench._load import run_wrk
from tests.support.procs import ServerProcess, free_port, write_config

BODY = {
    "to": ["ada@example.net"],
    "from": {"email": "noreply@example.com", "name": "Bench"},
    "subject": "Hello {{name}}",
    "htmlBody": "<p>Hi {{name}}, your order {{order}} ships today.</p>" * 20,
    "variables": {"name": "Ada", "order": "A-1"},
    "metadata": {"category": "bench", "tags": ["accept"]},
}


def _wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1, trust_env=False)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def bench_bare(duration: int, connections: int) -> dict:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "bench/bare_app.py", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/schema")
        url = f"http://127.0.0.1:{port}/v1/messages"
        run_wrk(url, json.dumps(BODY), connections=connections, duration=2)  # warm-up
        return run_wrk(url, json.dumps(BODY), connections=connections, duration=duration)
    finally:
        proc.terminate()
        proc.wait(10)


def pause_default_queue(base: str, key: str) -> None:
    """Delivery stays running but the tenant's `default` queue is paused (a product feature:
    a paused queue accepts and does not send), so the run measures accepting alone."""
    h = {"x-api-key": key}
    with httpx.Client(base_url=base, headers=h, trust_env=False) as c:
        queues = c.get("/v1/queues").raise_for_status().json()["data"]
        default = next(q for q in queues if q["name"] == "default")
        c.post(f"/v1/queues/{default['id']}/pause").raise_for_status()


def bench_iep(duration: int, connections: int, workdir: Path, paused: bool) -> dict:
    port = free_port()
    cfg = write_config(
        workdir,
        port,
        logging={"access_log": False, "level": "WARNING"},
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
        if paused:
            pause_default_queue(f"http://127.0.0.1:{port}", key)
        url = f"http://127.0.0.1:{port}/v1/messages"
        headers = {"x-api-key": key}
        run_wrk(url, json.dumps(BODY), headers, connections=connections, duration=2)
        return run_wrk(url, json.dumps(BODY), headers, connections=connections, duration=duration)
    finally:
        server.stop()


# ---- a send by stored template with open/click tracking against the same send inline


def content_body(template_id: str) -> dict:
    """BODY by stored template (the same subject and HTML, stored), tracking opens and clicks."""
    body = {k: v for k, v in BODY.items() if k not in ("subject", "htmlBody")}
    return {**body, "template": {"id": template_id}, "tracking": {"opens": True, "clicks": True}}


def bench_content(duration: int, connections: int, workdir: Path, rounds: int) -> dict:
    """One server, default queue paused; inline and by-template bodies alternate `rounds`
    times (so drift of the shared machine hits both alike). Returns each kind's runs."""
    port = free_port()
    cfg = write_config(workdir, port, logging={"access_log": False, "level": "WARNING"})
    server = ServerProcess(cfg, port, workdir)
    server.start()
    try:
        server.wait_ready(timeout=60)
        key = next(
            line.split("=", 1)[1]
            for line in server.stdout_text().splitlines()
            if line.startswith("key=")
        )
        base = f"http://127.0.0.1:{port}"
        pause_default_queue(base, key)
        headers = {"x-api-key": key}
        made = httpx.post(
            f"{base}/v1/templates",
            json={"name": "bench", "subject": BODY["subject"], "htmlBody": BODY["htmlBody"]},
            headers=headers,
            trust_env=False,
        ).raise_for_status()
        bodies = {
            "inline": json.dumps(BODY),
            "template+tracking": json.dumps(content_body(made.json()["id"])),
        }
        url = f"{base}/v1/messages"
        runs: dict[str, list[dict]] = {name: [] for name in bodies}
        for body in bodies.values():
            run_wrk(url, body, headers, connections=connections, duration=2)  # warm-up
        for _ in range(rounds):
            for name, body in bodies.items():
                runs[name].append(
                    run_wrk(url, body, headers, connections=connections, duration=duration)
                )
        return runs
    finally:
        server.stop()


def content_main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runs = bench_content(args.duration, args.connections, Path(tmp) / "content", args.rounds)
    print(f"{'':20} {'202/s (each round)':>28} {'median':>8} {'p99 ms':>8}")
    medians = {}
    for name, rs in runs.items():
        rates = sorted(r["ok_rps"] for r in rs)
        medians[name] = rates[len(rates) // 2]
        p99 = sorted(r["p99_ms"] for r in rs)[len(rs) // 2]
        each = " ".join(f"{r['ok_rps']:.0f}" for r in rs)
        print(f"{name:20} {each:>28} {medians[name]:8.0f} {p99:8.1f}")
    ratio = medians["template+tracking"] / medians["inline"]
    print(f"ratio template+tracking / inline: {ratio:.2f}  (target >= 0.90)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--content",
        action="store_true",
        help="only compare a send by stored template with tracking against the inline send",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternations with --content")
    args = parser.parse_args()
    if args.content:
        content_main(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        bare = bench_bare(args.duration, args.connections)
        iep = bench_iep(args.duration, args.connections, Path(tmp) / "paused", paused=True)
        both = bench_iep(args.duration, args.connections, Path(tmp) / "live", paused=False)
    rows = [
        ("bare endpoint", bare),
        ("IEP accept (durable)", iep),
        ("IEP accept + delivery", both),
    ]
    print(f"{'':24} {'202/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-202':>8}")
    for name, r in rows:
        other = sum(c for s, c in r["statuses"].items() if int(s) != 202)
        print(f"{name:24} {r['ok_rps']:9.0f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {other:8d}")
    print(
        f"ratio accepted/bare throughput: {iep['ok_rps'] / bare['ok_rps']:.2f}"
        f"  (target >= 0.60);  p99 ratio: {iep['p99_ms'] / bare['p99_ms']:.2f}  (target <= 2.0)"
    )
    print(
        "accept + delivery on the same core (outbox provider, default queue live): "
        f"{both['ok_rps'] / bare['ok_rps']:.2f} of bare"
    )


if __name__ == "__main__":
    main()
