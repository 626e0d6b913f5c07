"""Where a worker's time goes end to end (issue 19): py-spy on every `iep serve` process while
N messages go POST → IEP (smtp provider, DKIM RSA) → Postfix `smtp-sink`.

Each process is sampled (`py-spy record --format raw`, 250 Hz, all threads, idle frames left
out) for the length of the run; the collapsed stacks are then summed: the share of the
event-loop thread's samples spent inside each named part (inclusive), the top functions by
own time (native code, such as OpenSSL's RSA operation inside `sign`, counts as the own time
of the Python function that called it), and the CPU per delivered message (`/proc/PID/stat`)
of the whole server and of its event-loop threads.

    python -m bench.profile --workers 2 --n 8000          # prints the table; stacks in --out
"""

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._sink import SmtpSinkProcess
from bench.deliver import Iep, finish_posting, post_subprocess, wait_sink

# Named parts of a message's life, matched against "function (file)" frames, inclusive.
PARTS = {
    "DKIM signing (domain/dkim.py sign)": r"^sign \(.*domain/dkim\.py",
    "  canonicalization + header hash": r"canonical_body|canonicalize_\w+|hash_headers",
    "  header/body split": r"^(rfc822_parse|parse_message) ",
    "MIME build (domain/mime.py)": r"\(.*domain/mime\.py",
    "rendering (domain/render.py, handlebars)": r"\(.*domain/(render|handlebars)\.py",
    "SMTP wire (smtp_wire.py)": r"\(.*providers/smtp_wire\.py",
    "store writes on the loop (db.py _flush)": r"Database\._flush \(.*sqlite/db\.py",
    "HTTP accept (api/, submission)": r"\(.*iep_appliance/api/",
    "litestar / uvicorn glue": r"\((.*/)?(litestar|uvicorn|h11|httptools)/",
    "logging": r"\((.*/)?(logging/__init__|iep_appliance/logs)\.py",
    "metrics (prometheus)": r"\((.*/)?(prometheus_client/|iep_appliance/metrics)",
    "email.utils / email.*": r"\((.*/)?email/",
}


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def cpu_seconds(pid: int, loop_only: bool = False) -> float:
    """User + system CPU of the process (all threads), or of its event-loop (main) thread."""
    stat = Path(f"/proc/{pid}/task/{pid}/stat" if loop_only else f"/proc/{pid}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summarize(stacks: Path) -> tuple[int, dict[str, int], collections.Counter[str]]:
    """(loop-thread samples, samples per part, own-time counter) of one raw py-spy file."""
    parts = {name: re.compile(rx) for name, rx in PARTS.items()}
    total = 0
    hits = dict.fromkeys(PARTS, 0)
    own: collections.Counter[str] = collections.Counter()
    for line in stacks.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or "MainThread" not in stack.split(";", 1)[0]:
            continue  # the event loop runs on the main thread; commit/read threads are apart
        count = int(count_text)
        frames = stack.split(";")[1:]
        total += count
        for name, rx in parts.items():
            if any(rx.search(f) for f in frames):
                hits[name] += count
        if frames:
            own[re.sub(r":\d+\)$", ")", frames[-1])] += count
    return total, hits, own


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n", type=int, default=8000)
    parser.add_argument("--dkim", default="rsa", choices=["rsa", "ed25519", "off"])
    parser.add_argument("--out", type=Path, default=None, help="keep the raw stacks here")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="iep-bench-profile-") as tmp_name,
        SmtpSinkProcess(Path(tmp_name) / "sink", backlog=1024) as sink,
    ):
        tmp = Path(tmp_name)
        out = args.out or tmp / "stacks"
        out.mkdir(parents=True, exist_ok=True)
        w = max(1, args.workers)
        opts = argparse.Namespace(
            concurrency=32 // w, smtp_connections=16 // w, workers=args.workers
        )
        with Iep(tmp / "iep", sink, opts, args.dkim) as iep:
            top = iep.server.proc.pid
            pids = children(top) if args.workers else [top]
            before = sink.messages()
            warm = finish_posting(post_subprocess(iep.port, iep.key, 500, 16, True, ""))
            wait_sink(sink, before + warm["statuses"].get("202", 0), 60)
            cpu0 = {p: cpu_seconds(p) for p in [top, *pids]}
            loop0 = {p: cpu_seconds(p, loop_only=True) for p in pids}
            spies = [
                subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "py-spy"),
                        "record",
                        "--pid",
                        str(p),
                        "--rate",
                        "250",
                        "--format",
                        "raw",
                        "--threads",
                        "--nonblocking",
                        "--output",
                        str(out / f"pid{p}.txt"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for p in pids
            ]
            time.sleep(1.0)  # py-spy attached (its first samples start within this)
            before = sink.messages()
            t0 = time.time()
            posted = finish_posting(post_subprocess(iep.port, iep.key, args.n, 64, True, ""))
            count, last = wait_sink(sink, before + posted["statuses"].get("202", 0), 300)
            delivered = count - before
            cpu1 = {p: cpu_seconds(p) for p in [top, *pids]}
            loop1 = {p: cpu_seconds(p, loop_only=True) for p in pids}
            for spy in spies:
                spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
            for spy in spies:
                spy.wait(60)
        cpu_ms = sum(cpu1[p] - cpu0[p] for p in cpu0) * 1000 / max(1, delivered)
        loop_ms = sum(loop1[p] - loop0[p] for p in loop0) * 1000 / max(1, delivered)
        print(
            f"workers={args.workers} dkim={args.dkim}: {delivered} delivered in"
            f" {last - t0:.1f} s = {delivered / (last - t0):,.0f} msgs/s end to end;"
            f" server CPU {cpu_ms:.2f} ms per delivered message (all processes),"
            f" event loops {loop_ms:.2f} ms"
        )
        total = 0
        hits = dict.fromkeys(PARTS, 0)
        own: collections.Counter[str] = collections.Counter()
        for p in pids:
            t, h, o = summarize(out / f"pid{p}.txt")
            total += t
            own.update(o)
            for k, v in h.items():
                hits[k] += v
        print(f"\nevent-loop thread samples: {total} (all workers); inclusive share:")
        for name, v in hits.items():
            print(f"  {100 * v / max(1, total):5.1f} %  {name}")
        print(f"\ntop {args.top} by own time:")
        for frame, v in own.most_common(args.top):
            print(f"  {100 * v / max(1, total):5.1f} %  {frame}")
        if args.out:
            print(f"\nraw stacks: {out}")


if __name__ == "__main__":
    main()
