"""Delivery benchmark: IEP end to end against Postfix's `smtp-sink`, with its references.

In one run, against one `smtp-sink` on loopback (bench/_sink.py):
  (a) raw aiosmtplib: prebuilt ~5 KB messages over N reused connections (bench/references.py);
  (b) django-post-office: SQLite queue, then send_queued (bench/references.py);
  IEP end to end: the real server (`python -m iep_appliance serve`, default provider smtp →
      smtp-sink, 16 connections, delivery concurrency 32), POSTed by a separate process over
      64 keep-alive connections; messages/s from the first POST to the last receipt at the
      sink, for ~5 KB messages with variables, with a textBody and without one (then the
      text part is generated from the HTML);
  IEP backlog drain: the sink is paused (SIGSTOP) while N messages are queued, then resumed
      (SIGCONT); messages/s from the resume to the last receipt.

    python -m bench.deliver                      # n=5000, backlog=10000
    python -m bench.deliver --n 2000 --backlog 4000 --skip-django
    python -m bench.deliver --repeat 3             # median of three runs of each figure
    python -m bench.deliver --dkim-compare --skip-django   # + end to end with DKIM off / RSA
                                                           #   / Ed25519 (same run)

The load generator is a small asyncio HTTP/1.1 client (`python -m bench.deliver post ...`):
pre-encoded requests over keep-alive sockets cost a few µs each, so on this 2-core machine it
takes little of the core the server needs (httpx would take most of one).
"""

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench._sink import SmtpSinkProcess
from bench.references import django_post_office_subprocess
from tests.support.procs import ServerProcess, free_port, write_config

REPO = Path(__file__).resolve().parent.parent
_PARAGRAPH = (  # the references' padding text: static, as most of a real template is
    "Thank you for your order. This paragraph pads the message to a realistic transactional "
    "size so that the transport moves about five kilobytes per message, as IEP's would. "
)


def send_body(with_text: bool) -> dict[str, Any]:
    """A ~5 KB receipt with six variables, about the size of bench/references.py's messages."""
    html = (
        "<html><body><h1>Hello {{name}}</h1>"
        "<p>Order <b>{{order}}</b> ({{total}}) ships {{day}}.</p>"
        + "".join(f"<p>{_PARAGRAPH}</p>" for _ in range(11))
        + "<p><a href='https://shop.example.com/orders/{{order}}'>Your order</a> · "
        "<a href='{{supportUrl}}'>Help</a></p></body></html>"
    )
    body: dict[str, Any] = {
        "to": ["someone@example.net"],
        "from": {"email": "noreply@example.com", "name": "Bench Shop"},
        "subject": "Your receipt {{order}}",
        "htmlBody": html,
        "variables": {
            "name": "Ada Lovelace",
            "order": "A-1042",
            "total": "€42.00",
            "day": "today",
            "supportUrl": "https://shop.example.com/help",
        },
        "metadata": {"category": "receipt"},
    }
    if with_text:
        body["textBody"] = (
            "Hello {{name}}\n\nOrder {{order}} ({{total}}) ships {{day}}.\n\n"
            + "\n".join(_PARAGRAPH for _ in range(11))
            + "\nYour order: https://shop.example.com/orders/{{order}}\nHelp: {{supportUrl}}\n"
        )
    return body


def content_body(template_id: str) -> dict[str, Any]:
    """Issue 18: send_body(True) by stored template (same sources), tracking opens and clicks."""
    body = {
        k: v for k, v in send_body(True).items() if k not in ("subject", "htmlBody", "textBody")
    }
    return {**body, "template": {"id": template_id}, "tracking": {"opens": True, "clicks": True}}


def store_template(port: int, key: str) -> str:
    """Store send_body(True)'s subject and bodies as a template; its id."""
    inline = send_body(True)
    made = httpx.post(
        f"http://127.0.0.1:{port}/v1/templates",
        json={k: inline[k] for k in ("subject", "htmlBody", "textBody")} | {"name": "bench"},
        headers={"x-api-key": key},
        timeout=30,
        trust_env=False,
    ).raise_for_status()
    return str(made.json()["id"])


# ---- the load generator (runs in its own process) -------------------------------------------


async def _post_all(port: int, key: str, n: int, connections: int, body: bytes) -> dict[str, Any]:
    request = (
        f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nx-api-key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    remaining = [n]
    statuses: dict[int, int] = {}
    length_re = re.compile(rb"content-length:\s*(\d+)", re.I)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while remaining[0] > 0:
                remaining[0] -= 1
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                match = length_re.search(head)
                if match:
                    await reader.readexactly(int(match.group(1)))
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    first = time.time()
    await asyncio.gather(*(worker() for _ in range(connections)))
    last = time.time()
    return {"statuses": statuses, "first_post": first, "last_response": last}


def post_main(args: argparse.Namespace) -> None:
    import uvloop

    chosen = content_body(args.template) if args.template else send_body(args.text)
    body = json.dumps(chosen, separators=(",", ":")).encode()
    result = uvloop.run(_post_all(args.port, args.key, args.n, args.connections, body))
    print(json.dumps(result))


def post_subprocess(
    port: int, key: str, n: int, connections: int, with_text: bool, template: str = ""
) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "bench.deliver", "post", "--port", str(port)]
    command += ["--key", key, "--n", str(n), "--connections", str(connections)]
    if with_text:
        command.append("--text")
    if template:
        command += ["--template", template]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)


def finish_posting(proc: subprocess.Popen[str], timeout: float = 600) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {out}")
    return json.loads(out.strip().splitlines()[-1])


# ---- IEP --------------------------------------------------------------------------------------


class Iep:
    """The real server on a fresh data dir, delivering to smtp-sink."""

    def __init__(
        self, workdir: Path, sink: SmtpSinkProcess, opts: argparse.Namespace, dkim: str = "rsa"
    ) -> None:
        self.port = free_port()
        config = write_config(
            workdir,
            self.port,
            delivery={"concurrency": opts.concurrency, "retry_schedule": [60, 300]},
            providers={
                "relay": {
                    "type": "smtp",
                    "host": sink.host,
                    "port": sink.port,
                    "connections": opts.smtp_connections,
                    # The drain run pauses the sink for the length of the queueing.
                    "timeout_seconds": 300,
                }
            },
            routing={"default_provider": "relay"},
            logging={"access_log": False, "level": "WARNING"},
            # The first start makes example.com's DKIM key with this algorithm.
            dkim={"sign": dkim != "off", "algorithm": "rsa" if dkim == "off" else dkim},
        )
        workers = getattr(opts, "workers", 0)  # bench/workers.py: `--workers N`
        self.server = ServerProcess(config, self.port, workdir / "logs", workers=workers)
        self.workdir = workdir

    def __enter__(self) -> "Iep":
        self.server.start()
        try:
            self.server.wait_ready(timeout=60)
        except BaseException:
            self.server.stop()
            raise
        text = (self.workdir / "data" / "initial-credentials.txt").read_text()
        self.key = next(line[4:] for line in text.splitlines() if line.startswith("key="))
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a Prometheus sample family matching the labels, read from /metrics."""
        text = httpx.get(f"{self.server.base_url}/metrics", timeout=30, trust_env=False).text
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            if head != name and not head.startswith(name + "{"):
                continue
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total


def wait_sink(sink: SmtpSinkProcess, target: int, timeout: float) -> tuple[int, float]:
    """Poll smtp-sink's counter to `target`; (count, wall time it was first seen there)."""
    deadline = time.monotonic() + timeout
    count = sink.messages()
    while count < target and time.monotonic() < deadline:
        time.sleep(0.005)
        count = sink.messages()
    return count, time.time()


def iep_end_to_end(
    tmp: Path,
    sink: SmtpSinkProcess,
    opts: argparse.Namespace,
    with_text: bool,
    dkim: str = "rsa",
    content: bool = False,
) -> dict[str, Any]:
    label = ("with textBody" if with_text else "without textBody") + f", DKIM {dkim}"
    if content:  # by stored template, tracking opens and clicks
        label += ", stored template + tracking"
    runs = len(list(tmp.glob("iep-e2e-*")))
    workdir = tmp / f"iep-e2e-{'text' if with_text else 'html'}-{dkim}-{int(content)}-{runs}"
    with Iep(workdir, sink, opts, dkim) as iep:
        template = store_template(iep.port, iep.key) if content else ""
        # Warm-up: templates compiled, SMTP pool connected, SQLite pages cached.
        before = sink.messages()
        warm = finish_posting(post_subprocess(iep.port, iep.key, 300, 16, with_text, template))
        wait_sink(sink, before + warm["statuses"].get("202", 0), 60)

        before = sink.messages()
        proc = post_subprocess(
            iep.port, iep.key, opts.n, opts.http_connections, with_text, template
        )
        posted = finish_posting(proc)
        accepted = posted["statuses"].get("202", 0)
        count, last = wait_sink(sink, before + accepted, 300)
        delivered = count - before
        seconds = last - posted["first_post"]
        sent_total = iep.metric("iep_messages_total", status="sent")
    return {
        "what": f"IEP end to end ({label})",
        "n": opts.n,
        "accepted": accepted,
        "statuses": posted["statuses"],
        "delivered_at_sink": delivered,
        "iep_sent_total": int(sent_total),
        "accept_per_s": round(accepted / (posted["last_response"] - posted["first_post"]), 1),
        "seconds": round(seconds, 3),
        "msgs_per_s": round(delivered / seconds, 1),
    }


def iep_backlog_drain(tmp: Path, sink: SmtpSinkProcess, opts: argparse.Namespace) -> dict:
    with Iep(tmp / "iep-drain", sink, opts) as iep:
        before = sink.messages()
        assert sink.proc is not None
        os.kill(sink.proc.pid, signal.SIGSTOP)  # the relay stops answering: a paused relay
        try:
            posted = finish_posting(
                post_subprocess(iep.port, iep.key, opts.backlog, opts.http_connections, True)
            )
        finally:
            resumed = time.time()
            os.kill(sink.proc.pid, signal.SIGCONT)
        accepted = posted["statuses"].get("202", 0)
        count, last = wait_sink(sink, before + accepted, 600)
        delivered = count - before
    seconds = last - resumed
    return {
        "what": "IEP backlog drain (with textBody)",
        "backlog": opts.backlog,
        "accepted": accepted,
        "delivered_at_sink": delivered,
        "accept_per_s": round(accepted / (posted["last_response"] - posted["first_post"]), 1),
        "seconds": round(seconds, 3),
        "msgs_per_s": round(delivered / seconds, 1),
    }


def raw_reference(sink: SmtpSinkProcess, n: int, connections: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.references", "raw", "--port", str(sink.port)]
    command += ["--n", str(n), "--connections", str(connections)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"raw reference failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- report -----------------------------------------------------------------------------------


def run(opts: argparse.Namespace) -> None:
    results: dict[str, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="iep-bench-deliver-") as tmp_name,
        SmtpSinkProcess(Path(tmp_name) / "sink", backlog=1024) as sink,
    ):
        tmp = Path(tmp_name)

        def step(name: str, fn: Any) -> None:
            runs = []
            for _ in range(opts.repeat):
                before = sink.messages()
                result = fn()
                result["sink_counted"] = sink.messages() - before
                runs.append(result)
                print(json.dumps(result), flush=True)
            # The machine is shared: with --repeat, each figure is its median run.
            runs.sort(key=lambda r: r.get("msgs_per_s") or r.get("end_to_end_per_s") or 0)
            results[name] = runs[len(runs) // 2]

        if opts.content_compare:  # alternating, so drift hits both alike
            content_runs: dict[str, list[dict[str, Any]]] = {"content_0": [], "content_1": []}
            for _ in range(opts.repeat):
                for variant in (False, True):
                    result = iep_end_to_end(tmp, sink, opts, True, content=variant)
                    content_runs[f"content_{int(variant)}"].append(result)
                    print(json.dumps(result), flush=True)
            report_content(content_runs)
            return
        step("raw", lambda: raw_reference(sink, opts.n, opts.smtp_connections))
        if not opts.skip_django:
            step(
                "django",
                lambda: django_post_office_subprocess(sink.host, sink.port, opts.n, tmp / "dj"),
            )
        step("e2e_text", lambda: iep_end_to_end(tmp, sink, opts, with_text=True))
        step("e2e_html", lambda: iep_end_to_end(tmp, sink, opts, with_text=False))
        step("drain", lambda: iep_backlog_drain(tmp, sink, opts))
        if opts.dkim_compare:
            for mode in ("off", "rsa", "ed25519"):
                step(f"dkim_{mode}", lambda m=mode: iep_end_to_end(tmp, sink, opts, True, m))

    raw = results["raw"]["msgs_per_s"]
    django = results.get("django", {}).get("end_to_end_per_s")
    print()
    print(f"{'':44} {'msgs/s':>9} {'vs (a) raw':>11} {'vs (b) django':>14}")
    rows = [
        ("(a) raw aiosmtplib, 16 reused connections", raw),
        ("(b) django-post-office queue + send", django),
        ("IEP end to end, with textBody", results["e2e_text"]["msgs_per_s"]),
        ("IEP end to end, without textBody", results["e2e_html"]["msgs_per_s"]),
        ("IEP backlog drain", results["drain"]["msgs_per_s"]),
    ]
    if opts.dkim_compare:
        rows += [
            (f"IEP end to end, DKIM {mode}", results[f"dkim_{mode}"]["msgs_per_s"])
            for mode in ("off", "rsa", "ed25519")
        ]
    for name, rate in rows:
        if rate is None:
            continue
        vs_django = f"{rate / django:13.2f}x" if django else f"{'-':>14}"
        print(f"{name:44} {rate:9.1f} {rate / raw:10.2f}x {vs_django}")
    e2e = results["e2e_text"]["msgs_per_s"]
    print()
    print(f"target: end to end >= 1000 msgs/s ........ {e2e:.0f}")
    print(f"target: drain >= 40 % of (a) ............. {results['drain']['msgs_per_s'] / raw:.0%}")
    if django:
        print(f"target: end to end >= 3x django ........... {e2e / django:.2f}x")


def report_content(results: dict[str, list[dict[str, Any]]]) -> None:
    def median(runs: list[dict[str, Any]]) -> float:
        rates = sorted(r["msgs_per_s"] for r in runs)
        return float(rates[len(rates) // 2])

    inline, content = median(results["content_0"]), median(results["content_1"])
    print()
    for name, runs, rate in (
        ("IEP end to end, inline", results["content_0"], inline),
        ("IEP end to end, stored template + tracking", results["content_1"], content),
    ):
        each = " ".join(f"{r['msgs_per_s']:.0f}" for r in runs)
        print(f"{name:44} median {rate:8.1f} msgs/s  (runs: {each})")
    print(f"ratio template+tracking / inline: {content / inline:.2f}  (target >= 0.90)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="IEP delivery benchmark")
    sub = parser.add_subparsers(dest="command")
    post = sub.add_parser("post", help="(internal) the load generator")
    post.add_argument("--port", type=int, required=True)
    post.add_argument("--key", required=True)
    post.add_argument("--n", type=int, required=True)
    post.add_argument("--connections", type=int, default=64)
    post.add_argument("--text", action="store_true")
    post.add_argument("--template", default="", help="send by this stored template, tracked")
    parser.add_argument("--n", type=int, default=5000, help="messages per end-to-end run")
    parser.add_argument("--backlog", type=int, default=10000, help="messages queued for drain")
    parser.add_argument("--concurrency", type=int, default=32, help="delivery.concurrency")
    parser.add_argument("--smtp-connections", type=int, default=16)
    parser.add_argument("--http-connections", type=int, default=64)
    parser.add_argument("--skip-django", action="store_true")
    parser.add_argument(
        "--content-compare",
        action="store_true",
        help="only IEP end to end inline vs by stored template with tracking",
    )
    parser.add_argument(
        "--dkim-compare", action="store_true", help="end to end with DKIM off, RSA and Ed25519"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure; median shown")
    # scripts/bench passes the same arguments to every benchmark; others' flags are ignored.
    args, _unknown = parser.parse_known_args(argv)
    if args.command == "post":
        post_main(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
