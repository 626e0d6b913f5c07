"""Memory of the real server while it delivers: RSS after start and after each round.

    python -m bench.memory                 # 4 rounds of 5,000 messages to smtp-sink
    python -m bench.memory --rounds 2 --n 2000

The server and load are bench/deliver.py's (smtp provider → Postfix's smtp-sink, 16
connections, concurrency 32). A flat RSS across rounds means nothing accumulates per message.
"""

import argparse
import tempfile
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
    args = parser.parse_args()
    opts = argparse.Namespace(concurrency=32, smtp_connections=16, http_connections=64)
    with (
        tempfile.TemporaryDirectory() as tmp,
        SmtpSinkProcess(Path(tmp)) as sink,
        Iep(Path(tmp) / "iep", sink, opts) as iep,
    ):
        pid = iep.server.pid
        print(f"after start: RSS {status_kb(pid, 'VmRSS') / 1024:.0f} MB")
        for done in range(1, args.rounds + 1):
            before = sink.messages()
            posted = finish_posting(post_subprocess(iep.port, iep.key, args.n, 64, True))
            accepted = posted["statuses"].get("202", 0)
            count, _ = wait_sink(sink, before + accepted, 300)
            print(
                f"after {done * args.n:,} messages ({count - before} delivered this round): "
                f"RSS {status_kb(pid, 'VmRSS') / 1024:.0f} MB, "
                f"peak {status_kb(pid, 'VmHWM') / 1024:.0f} MB"
            )


if __name__ == "__main__":
    main()
