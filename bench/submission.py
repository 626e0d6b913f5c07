"""Submission benchmark: messages/s accepted over SMTP vs. over `POST /v1/messages`, same run.

Starts the real server (`python -m iep_appliance serve`, synchronous=FULL, SMTP submission on)
with the tenant's `default` queue paused, so both measure accepting alone (stored, queued,
nothing sent). The same message — a multipart/alternative text + HTML mail, about 2 KB — is
sent N times each way by a load process of its own with 16 connections:
- SMTP: AUTH PLAIN once per connection, then per message MAIL, RCPT and DATA pipelined
  (RFC 2920), the body after the 354, the next MAIL right behind the final `250`;
- HTTP: keep-alive HTTP/1.1, one POST at a time per connection (what every SDK does).
Both clients are raw asyncio streams, so the client's own cost is small and alike. Counts only
`250` / `202` answers and prints msgs/s for each and the ratio (target: SMTP >= 0.8 x HTTP).

Then the raw SMTP limit, same run: Postfix's `smtp-source` (16 sessions, many messages each,
lock-step: one command, wait for its reply) against Postfix's `smtp-sink`. `smtp-source` has no
AUTH and IEP's submission port takes mail only after AUTH (a key names the tenant; there is no
trust-by-address), so IEP is measured with a Python client doing exactly smtp-source's pattern
plus one AUTH PLAIN per session — and that client runs against `smtp-sink` too, so the ratio
IEP / smtp-sink compares the same client. Skipped when /usr/sbin/smtp-source is missing.

Run: `python -m bench.submission --count 2000`.
"""

import argparse
import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.accept import pause_default_queue
from tests.support.procs import ServerProcess, free_port, write_config

CONNECTIONS = 16
TEXT = "Hi Ada, your order A-1 ships today. " * 20
HTML = "<p>Hi Ada, your order A-1 ships today.</p>" * 20
BODY = {
    "to": ["ada@example.net"],
    "from": {"email": "noreply@example.com", "name": "Bench"},
    "subject": "Your order ships today",
    "htmlBody": HTML,
    "textBody": TEXT,
    "metadata": {"category": "bench"},
}
MIME = (
    "From: Bench <noreply@example.com>\r\n"
    "To: ada@example.net\r\n"
    "Subject: Your order ships today\r\n"
    "MIME-Version: 1.0\r\n"
    "X-IEP-Category: bench\r\n"
    'Content-Type: multipart/alternative; boundary="b1"\r\n'
    "\r\n"
    "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    + "\r\n".join(TEXT[i : i + 76] for i in range(0, len(TEXT), 76))
    + "\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    + "\r\n".join(HTML[i : i + 76] for i in range(0, len(HTML), 76))
    + "\r\n--b1--\r\n"
).encode()


async def _reply(reader: asyncio.StreamReader) -> bytes:
    """One (possibly multi-line) SMTP reply."""
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            return line


async def smtp_load(port: int, key: str, count: int) -> tuple[int, float]:
    remaining = iter(range(count))
    ok = 0
    plain = base64.b64encode(f"\0bench\0{key}".encode()).decode()
    envelope = b"MAIL FROM:<noreply@example.com>\r\nRCPT TO:<ada@example.net>\r\nDATA\r\n"
    payload = MIME + b".\r\n"

    async def connection() -> None:
        nonlocal ok
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await _reply(reader)
        writer.write(b"EHLO bench.test\r\n")
        await _reply(reader)
        writer.write(f"AUTH PLAIN {plain}\r\n".encode())
        assert (await _reply(reader)).startswith(b"235")
        for _ in remaining:
            writer.write(envelope)  # pipelined: three commands, then their three replies
            for _ in range(3):
                last = await _reply(reader)
            assert last.startswith(b"354"), last
            writer.write(payload)
            if (await _reply(reader)).startswith(b"250"):
                ok += 1
        writer.write(b"QUIT\r\n")
        await _reply(reader)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return ok, time.perf_counter() - started


async def lockstep_load(port: int, key: str, count: int) -> tuple[int, float]:
    """smtp-source's pattern: each command waits for its reply; AUTH once (key "-": none)."""
    remaining = iter(range(count))
    ok = 0
    plain = base64.b64encode(f"\0bench\0{key}".encode()).decode()
    payload = MIME + b".\r\n"

    async def connection() -> None:
        nonlocal ok
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await _reply(reader)
        writer.write(b"EHLO bench.test\r\n")
        ehlo = b""
        while True:  # the whole multi-line EHLO reply, to see whether AUTH is offered
            line = await reader.readline()
            ehlo += line
            if line[3:4] != b"-":
                break
        if key != "-" and b"AUTH" in ehlo:  # "-": the sink, which needs none
            writer.write(f"AUTH PLAIN {plain}\r\n".encode())
            assert (await _reply(reader)).startswith(b"235")
        for _ in remaining:
            for command in (
                b"MAIL FROM:<noreply@example.com>\r\n",
                b"RCPT TO:<ada@example.net>\r\n",
            ):
                writer.write(command)
                assert (await _reply(reader)).startswith(b"250")
            writer.write(b"DATA\r\n")
            assert (await _reply(reader)).startswith(b"354")
            writer.write(payload)
            if (await _reply(reader)).startswith(b"250"):
                ok += 1
        writer.write(b"QUIT\r\n")
        await _reply(reader)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return ok, time.perf_counter() - started


def smtp_source(port: int, count: int) -> tuple[int, float]:
    """Postfix's smtp-source: 16 sessions reused for every message (-d), ~2 KB bodies."""
    started = time.perf_counter()
    subprocess.run(
        [SMTP_SOURCE, "-d", "-s", str(CONNECTIONS), "-m", str(count), "-l", str(len(MIME)),
         "-f", "noreply@example.com", "-t", "ada@example.net", f"127.0.0.1:{port}"],
        check=True, timeout=600, capture_output=True,
    )  # fmt: skip
    return count, time.perf_counter() - started  # it exits non-zero on any refused message


class SmtpSink:
    """Postfix's smtp-sink on a free port: answers every command, discards the mail."""

    def __init__(self) -> None:
        self.port = free_port()
        command = [SMTP_SINK, f"127.0.0.1:{self.port}", "256"]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "nobody"]  # it refuses to run as root
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_ready(self) -> None:
        import socket

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


SMTP_SOURCE = "/usr/sbin/smtp-source"
SMTP_SINK = "/usr/sbin/smtp-sink"


async def http_load(port: int, key: str, count: int) -> tuple[int, float]:
    remaining = iter(range(count))
    ok = 0
    body = json.dumps(BODY).encode()
    request = (
        f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nx-api-key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    async def connection() -> None:
        nonlocal ok
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in remaining:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 202"):
                ok += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return ok, time.perf_counter() - started


def load(kind: str, port: int, key: str, count: int) -> tuple[int, float]:
    run = {"smtp": smtp_load, "http": http_load, "lockstep": lockstep_load}[kind]
    return asyncio.run(run(port, key, count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--load", choices=["smtp", "http", "lockstep"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:  # the load process: print "ok seconds"
        ok, seconds = load(args.load, args.port, args.key, args.count)
        print(ok, seconds)
        return
    with tempfile.TemporaryDirectory() as tmp:
        port, smtp_port = free_port(), free_port()
        cfg = write_config(
            Path(tmp),
            port,
            logging={"access_log": False, "level": "WARNING"},
            submission={"enabled": True, "port": smtp_port},
        )
        server = ServerProcess(cfg, port, Path(tmp))
        server.start()
        try:
            server.wait_ready(timeout=60)
            key = next(
                line.split("=", 1)[1]
                for line in server.stdout_text().splitlines()
                if line.startswith("key=")
            )
            pause_default_queue(f"http://127.0.0.1:{port}", key)
            results = {}
            for kind, target in (("http", port), ("smtp", smtp_port)):
                run_load(kind, target, key, min(200, args.count))  # warm-up
                results[kind] = run_load(kind, target, key, args.count)
            raw = shutil.which(SMTP_SOURCE) and shutil.which(SMTP_SINK)
            if raw:
                results["iep-lockstep"] = run_load("lockstep", smtp_port, key, args.count)
        finally:
            server.stop()
        if raw:
            sink = SmtpSink()
            try:
                sink.wait_ready()
                smtp_source(sink.port, min(200, args.count))  # warm-up
                results["source-sink"] = smtp_source(sink.port, args.count)
                results["lockstep-sink"] = run_load("lockstep", sink.port, "-", args.count)
            finally:
                sink.stop()
    print(f"{'':28} {'accepted':>9} {'msgs/s':>9}")
    labels = (("http", "POST /v1/messages (16 conn)"), ("smtp", "SMTP pipelined (16 conn)"))
    for kind, label in labels:
        ok, seconds = results[kind]
        print(f"{label:28} {ok:9d} {ok / seconds:9.0f}")
    http_rate = results["http"][0] / results["http"][1]
    smtp_rate = results["smtp"][0] / results["smtp"][1]
    print(f"ratio SMTP/HTTP accept: {smtp_rate / http_rate:.2f}  (target >= 0.80)")
    if "source-sink" not in results:
        print("smtp-source / smtp-sink not installed: raw SMTP limit skipped")
        return
    print(f"\n{'lock-step, 16 sessions':38} {'accepted':>9} {'msgs/s':>9}")
    rows = (
        ("source-sink", "smtp-source -> smtp-sink"),
        ("lockstep-sink", "smtp-source pattern (py) -> smtp-sink"),
        ("iep-lockstep", "smtp-source pattern (py) -> IEP"),
    )
    for kind, label in rows:
        ok, seconds = results[kind]
        print(f"{label:38} {ok:9d} {ok / seconds:9.0f}")
    rate = {kind: results[kind][0] / results[kind][1] for kind, _ in rows}
    print(
        f"ratio IEP / smtp-sink (same client): {rate['iep-lockstep'] / rate['lockstep-sink']:.2f}"
    )
    print(f"ratio IEP / smtp-source->smtp-sink:  {rate['iep-lockstep'] / rate['source-sink']:.2f}")


def run_load(kind: str, port: int, key: str, count: int) -> tuple[int, float]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.submission",
            "--load",
            kind,
            "--port",
            str(port),
            "--key",
            key,
            "--count",
            str(count),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout.split()
    return int(out[0]), float(out[1])


if __name__ == "__main__":
    main()
