"""Server CPU (user + sys, from /proc/PID/stat) per accepted message, for comparing two trees.

A noisy shared machine moves throughput by tens of percent between runs; the CPU the server
spends per message moves far less. Starts the real server from TREE (so two checkouts can be
compared one after the other), drives it with wrk (64 connections, 8 s after a 2 s warm-up)
with bench/accept.py's body, and prints accepted/s and µs of server CPU per message.

    PYTHONPATH=TREE python -m bench.cpu_per_message TREE paused     # accepting only
    PYTHONPATH=TREE python -m bench.cpu_per_message TREE live       # + outbox delivery
    PYTHONPATH=TREE python -m bench.cpu_per_message TREE live nodkim  # `[dkim] sign = false`
    PYTHONPATH=TREE python -m bench.cpu_per_message TREE live content  # by stored template,
                                                    # tracking opens and clicks
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    root, mode = sys.argv[1], sys.argv[2]
    sys.path.insert(0, root)
    os.chdir(root)
    from bench._load import run_wrk
    from bench.accept import BODY, content_body, pause_default_queue
    from tests.support.procs import ServerProcess, free_port, write_config

    work = Path(tempfile.mkdtemp())
    port = free_port()
    options = set(sys.argv[3:])
    extra = {"dkim": {"sign": False}} if "nodkim" in options else {}
    cfg = write_config(work, port, logging={"access_log": False, "level": "WARNING"}, **extra)
    server = ServerProcess(cfg, port, work)
    server.start()
    try:
        server.wait_ready(timeout=60)
        key = next(
            line.split("=", 1)[1]
            for line in server.stdout_text().splitlines()
            if line.startswith("key=")
        )
        if mode == "paused":
            pause_default_queue(f"http://127.0.0.1:{port}", key)
        url = f"http://127.0.0.1:{port}/v1/messages"
        headers = {"x-api-key": key}
        body = json.dumps(BODY)
        if "content" in options:  # the same content as a stored template, tracked
            import httpx

            made = httpx.post(
                f"http://127.0.0.1:{port}/v1/templates",
                json={"name": "bench", "subject": BODY["subject"], "htmlBody": BODY["htmlBody"]},
                headers=headers,
                trust_env=False,
            ).raise_for_status()
            body = json.dumps(content_body(made.json()["id"]))
        run_wrk(url, body, headers, connections=64, duration=2)
        assert server.proc is not None
        before = cpu_seconds(server.proc.pid)
        result = run_wrk(url, body, headers, connections=64, duration=8)
        if mode == "live":
            time.sleep(3)  # the outbox delivers what was accepted
        per_message_us = 1e6 * (cpu_seconds(server.proc.pid) - before) / result["ok"]
        print(
            f"{Path(root).name} {mode} {' '.join(sys.argv[3:]) or '-'}: accepted {result['ok']}"
            f" ({result['ok_rps']:.0f}/s), server CPU per message {per_message_us:.0f} µs"
            f" statuses {result.get('statuses')}"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
