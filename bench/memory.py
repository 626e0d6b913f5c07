"""Memory of the real server while it delivers: RSS after start and after each round.

    python -m bench.memory                 # 4 rounds of 5,000 messages to smtp-sink
    python -m bench.memory --rounds 2 --n 2000
    python -m bench.memory --workers 2 --rounds 5 --n 20000 --max-seconds 600
                                           # 100,000 messages, RSS of each worker (issue 19)

The server and load are bench/deliver.py's (smtp provider → Postfix's smtp-sink, 16
connections, concurrency 32). A flat RSS across rounds means nothing accumulates per message.
"""

import argparse
import tempfile
import time
from pathlib import Path

from bench._sink import SmtpSinkProcess
from bench.deliver import Iep, finish_posting, post_subprocess, wait_sink


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--n", type=int, default=5000, help="messages per round")
    parser.add_argument("--workers", type=int, default=0, help="iep serve --workers N")
    parser.add_argument("--max-seconds", type=float, default=900, help="no new round after")
    args = parser.parse_args()
    w = max(1, args.workers)
    opts = argparse.Namespace(
        concurrency=32 // w, smtp_connections=16 // w, http_connections=64, workers=args.workers
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        SmtpSinkProcess(Path(tmp)) as sink,
        Iep(Path(tmp) / "iep", sink, opts) as iep,
    ):
        started = time.monotonic()
        pids = iep.server.worker_pids() if args.workers > 1 else [iep.server.pid]

        def rss() -> str:
            return ", ".join(
                f"RSS {status_kb(p, 'VmRSS') / 1024:.0f} MB"
                f" (peak {status_kb(p, 'VmHWM') / 1024:.0f})"
                for p in pids
            )

        print(f"after start: {rss()}", flush=True)
        for done in range(1, args.rounds + 1):
            if time.monotonic() - started > args.max_seconds:
                print(f"stopped after {done - 1} rounds: --max-seconds {args.max_seconds:g}")
                break
            before = sink.messages()
            posted = finish_posting(post_subprocess(iep.port, iep.key, args.n, 64, True))
            accepted = posted["statuses"].get("202", 0)
            count, _ = wait_sink(sink, before + accepted, 300)
            print(
                f"after {done * args.n:,} messages ({count - before} delivered this round, "
                f"{time.monotonic() - started:.0f} s): {rss()}",
                flush=True,
            )


if __name__ == "__main__":
    main()
