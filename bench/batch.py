"""Batch benchmark: one 10,000-recipient batch against the same 10,000 as single messages.

In one run, against one Postfix `smtp-sink` on loopback (bench/_sink.py), each on a fresh
real server (`python -m iep_appliance serve`, default provider smtp → smtp-sink; the server
setup of bench/deliver.py) after a warm-up of 300 single sends:
  batch:   one `POST /v1/messages/batch` with 10,000 recipient entries (the ~5 KB receipt of
           bench/deliver.py, per-recipient `name` and `order`), body encoded beforehand;
           time to the 202, then time until smtp-sink has counted all 10,000;
  singles: the same 10,000 messages as `POST /v1/messages`, 64 in flight from a separate
           process (bench/deliver.py's load generator); time until the last 202, and until
           smtp-sink has counted all 10,000.
Both delivered rates run from the first byte POSTed to the last message counted at the sink.

    python -m bench.batch                 # n=10000
    python -m bench.batch --n 2000
"""

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench._sink import SmtpSinkProcess
from bench.deliver import Iep, finish_posting, post_subprocess, send_body, wait_sink


def batch_body(n: int) -> bytes:
    single = send_body(with_text=True)
    body = {k: v for k, v in single.items() if k != "to"}
    body["recipients"] = [
        {"to": [f"someone{i}@example.net"], "variables": {"name": f"Reader {i}", "order": f"A-{i}"}}
        for i in range(n)
    ]
    return json.dumps(body, separators=(",", ":")).encode()


def warm_up(iep: Iep, sink: SmtpSinkProcess) -> None:
    """Templates compiled, SMTP pool connected, SQLite pages cached."""
    before = sink.messages()
    warm = finish_posting(post_subprocess(iep.port, iep.key, 300, 16, True))
    wait_sink(sink, before + warm["statuses"].get("202", 0), 60)


def run_batch(tmp: Path, sink: SmtpSinkProcess, opts: argparse.Namespace) -> dict[str, Any]:
    body = batch_body(opts.n)
    with Iep(tmp / "iep-batch", sink, opts) as iep:
        warm_up(iep, sink)
        before = sink.messages()
        with httpx.Client(base_url=iep.server.base_url, timeout=300, trust_env=False) as client:
            headers = {"x-api-key": iep.key, "content-type": "application/json"}
            start = time.time()
            resp = client.post("/v1/messages/batch", content=body, headers=headers)
            answered = time.time()
        if resp.status_code != 202:
            raise RuntimeError(f"batch not accepted: {resp.status_code} {resp.text[:500]}")
        count, last = wait_sink(sink, before + opts.n, 600)
    delivered = count - before
    return {
        "what": f"one batch of {opts.n}",
        "body_bytes": len(body),
        "status": resp.status_code,
        "seconds_to_202": round(answered - start, 3),
        "accept_per_s": round(opts.n / (answered - start), 1),
        "delivered_at_sink": delivered,
        "seconds": round(last - start, 3),
        "msgs_per_s": round(delivered / (last - start), 1),
    }


def run_singles(tmp: Path, sink: SmtpSinkProcess, opts: argparse.Namespace) -> dict[str, Any]:
    with Iep(tmp / "iep-singles", sink, opts) as iep:
        warm_up(iep, sink)
        before = sink.messages()
        proc = post_subprocess(iep.port, iep.key, opts.n, opts.http_connections, True)
        posted = finish_posting(proc)
        accepted = posted["statuses"].get("202", 0)
        count, last = wait_sink(sink, before + accepted, 600)
    delivered = count - before
    first = posted["first_post"]
    return {
        "what": f"{opts.n} single messages, {opts.http_connections} in flight",
        "accepted": accepted,
        "statuses": posted["statuses"],
        "seconds_to_last_202": round(posted["last_response"] - first, 3),
        "accept_per_s": round(accepted / (posted["last_response"] - first), 1),
        "delivered_at_sink": delivered,
        "seconds": round(last - first, 3),
        "msgs_per_s": round(delivered / (last - first), 1),
    }


def run(opts: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="iep-bench-batch-") as tmp_name,
        SmtpSinkProcess(Path(tmp_name) / "sink", backlog=1024) as sink,
    ):
        tmp = Path(tmp_name)
        batch = run_batch(tmp, sink, opts)
        print(json.dumps(batch), flush=True)
        singles = run_singles(tmp, sink, opts)
        print(json.dumps(singles), flush=True)

    print()
    print(f"{'':40} {'accepted in':>12} {'accept/s':>10} {'delivered/s':>12}")
    print(
        f"{'one batch of ' + str(opts.n):40} {batch['seconds_to_202']:11.3f}s"
        f" {batch['accept_per_s']:10.1f} {batch['msgs_per_s']:12.1f}"
    )
    print(
        f"{str(opts.n) + ' singles, ' + str(opts.http_connections) + ' in flight':40}"
        f" {singles['seconds_to_last_202']:11.3f}s"
        f" {singles['accept_per_s']:10.1f} {singles['msgs_per_s']:12.1f}"
    )
    print()
    print(f"accept:    batch / singles = {batch['accept_per_s'] / singles['accept_per_s']:.2f}x")
    print(f"delivered: batch / singles = {batch['msgs_per_s'] / singles['msgs_per_s']:.2f}x")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="IEP batch benchmark")
    parser.add_argument("--n", type=int, default=10_000, help="recipients (and single messages)")
    parser.add_argument("--concurrency", type=int, default=32, help="delivery.concurrency")
    parser.add_argument("--smtp-connections", type=int, default=16)
    parser.add_argument("--http-connections", type=int, default=64)
    # scripts/bench passes the same arguments to every benchmark; others' flags are ignored.
    args, _unknown = parser.parse_known_args(argv)
    run(args)


if __name__ == "__main__":
    main()
