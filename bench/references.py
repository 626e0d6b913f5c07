"""Reference senders that IEP's delivery figures are judged against, run against a sink.

(a) `raw_aiosmtplib`: the raw transport. n prebuilt ~5 KB MIME messages sent over reused
    aiosmtplib connections (one task per connection pulling from a shared queue); timed from
    the first send to the last 250, so building and connecting are not in the figure.
(b) `django_post_office`: a peer library. Django configured in-process (SQLite file), n
    `mail.send()` calls on the default queued path, then `mail.send_queued()` batches until
    the queue is empty; queue/s, deliver/s and end to end. It configures Django globally, so
    run it in its own process: `python -m bench.references django --port P --n N`.

    python -m bench.references all --n 5000          # starts smtp-sink, runs every reference
    python -m bench.references raw --port P --n N [--connections 16] [--no-uvloop]
    python -m bench.references django --port P --n N [--workdir DIR]
"""

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from email.charset import QP, Charset
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

SENDER = "noreply@bench.test"
RECIPIENT = "someone@example.test"
_PARAGRAPH = (
    "Thank you for your order. This paragraph pads the message to a realistic transactional "
    "size so that the transport moves about five kilobytes per message, as IEP's would. "
)


def message_parts(index: int) -> tuple[str, str, str]:
    """Subject, text body and HTML body together about 5 KB once MIME-encoded."""
    text = f"Hello #{index},\n\n" + (_PARAGRAPH + "\n") * 12
    html = (
        f"<html><body><h1>Hello #{index}</h1>"
        + "".join(f"<p>{_PARAGRAPH}</p>" for _ in range(12))
        + "</body></html>"
    )
    return f"Your receipt #{index}", text, html


_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # compat32's utf-8 default is base64: a third larger on the wire


def build_message(index: int) -> bytes:
    subject, text, html = message_parts(index)
    message = MIMEMultipart("alternative")
    message["From"] = SENDER
    message["To"] = RECIPIENT
    message["Subject"] = subject
    message["Date"] = formatdate()
    message["Message-ID"] = make_msgid(domain="bench.test")
    message["X-IEP-Message-Id"] = f"msg_bench_{index}"
    message.attach(MIMEText(text, "plain", _UTF8_QP))  # type: ignore[arg-type]
    message.attach(MIMEText(html, "html", _UTF8_QP))  # type: ignore[arg-type]
    return message.as_bytes()


# -- (a) raw aiosmtplib ---------------------------------------------------------------------


def raw_aiosmtplib(
    host: str, port: int, n: int, connections: int = 16, use_uvloop: bool = True
) -> dict[str, Any]:
    """Send n prebuilt messages over `connections` reused connections; return msgs/s."""
    messages = [build_message(i) for i in range(n)]
    size = sum(map(len, messages)) / max(1, n)
    coroutine = _send_all(host, port, messages, connections)
    if use_uvloop:
        import uvloop

        seconds = uvloop.run(coroutine)
    else:
        seconds = asyncio.run(coroutine)
    return {
        "reference": f"raw aiosmtplib ({'uvloop' if use_uvloop else 'asyncio'})",
        "n": n,
        "connections": connections,
        "avg_bytes": round(size),
        "seconds": round(seconds, 3),
        "msgs_per_s": round(n / seconds, 1),
    }


async def _send_all(host: str, port: int, messages: list[bytes], connections: int) -> float:
    import aiosmtplib

    clients = [aiosmtplib.SMTP(hostname=host, port=port, timeout=60) for _ in range(connections)]
    await asyncio.gather(*(client.connect() for client in clients))
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)

    async def worker(client: aiosmtplib.SMTP) -> None:
        while not queue.empty():
            message = queue.get_nowait()
            errors, _ = await client.sendmail(SENDER, [RECIPIENT], message)
            if errors:
                raise RuntimeError(f"refused: {errors}")

    started = time.perf_counter()
    await asyncio.gather(*(worker(client) for client in clients))
    seconds = time.perf_counter() - started
    await asyncio.gather(*(client.quit() for client in clients), return_exceptions=True)
    return seconds


# -- (b) django-post-office -----------------------------------------------------------------


def django_post_office(host: str, port: int, n: int, workdir: Path) -> dict[str, Any]:
    """Queue n messages with post_office.mail.send, deliver with send_queued; return rates.

    Configures Django for this whole process: call it only from a fresh process.
    """
    import django
    from django.conf import settings
    from django.core.management import call_command

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "post_office.sqlite3"
    database.unlink(missing_ok=True)
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only",
        USE_TZ=True,
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)}},
        INSTALLED_APPS=["django.contrib.contenttypes", "post_office"],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates"}],
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST=host,
        EMAIL_PORT=port,
        EMAIL_TIMEOUT=60,
        DEFAULT_FROM_EMAIL=SENDER,
        POST_OFFICE={},  # the library's defaults: batches of 100, 5 threads, log level 2
    )
    django.setup()
    call_command("migrate", verbosity=0)

    from post_office import mail
    from post_office.models import STATUS, Email

    bodies = [message_parts(i) for i in range(n)]
    started = time.perf_counter()
    for subject, text, html in bodies:
        mail.send(RECIPIENT, SENDER, subject=subject, message=text, html_message=html)
    queued = time.perf_counter()
    sent = failed = 0
    while True:  # send_queued takes one batch (BATCH_SIZE) per call
        batch_sent, batch_failed, batch_requeued = mail.send_queued()
        sent += batch_sent
        failed += batch_failed + batch_requeued
        if batch_sent + batch_failed + batch_requeued == 0:
            break
    delivered = time.perf_counter()
    queue_s, deliver_s, total_s = queued - started, delivered - queued, delivered - started
    return {
        "reference": "django-post-office (SQLite)",
        "n": n,
        "sent": sent,
        "failed": failed,
        "status_sent_rows": Email.objects.filter(status=STATUS.sent).count(),
        "queue_per_s": round(n / queue_s, 1),
        "deliver_per_s": round(sent / deliver_s, 1) if deliver_s else 0.0,
        "end_to_end_per_s": round(sent / total_s, 1),
        "seconds": round(total_s, 3),
    }


def django_post_office_subprocess(
    host: str, port: int, n: int, workdir: Path, timeout: float = 600
) -> dict[str, Any]:
    """Run `django_post_office` in a child process (Django's settings are process-global)."""
    repo = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "bench.references", "django", "--host", host]
    command += ["--port", str(port), "--n", str(n), "--workdir", str(workdir), "--json"]
    done = subprocess.run(
        command, cwd=repo, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"django reference failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- command line ---------------------------------------------------------------------------


def _run_all(n: int, connections: int) -> list[dict[str, Any]]:
    from bench._sink import SmtpSinkProcess

    results = []
    with (
        tempfile.TemporaryDirectory(prefix="iep-bench-") as tmp,
        SmtpSinkProcess(Path(tmp)) as sink,
    ):
        runs = [
            lambda: raw_aiosmtplib(sink.host, sink.port, n, connections, use_uvloop=False),
            lambda: raw_aiosmtplib(sink.host, sink.port, n, connections, use_uvloop=True),
            lambda: django_post_office_subprocess(sink.host, sink.port, n, Path(tmp) / "django"),
        ]
        for run in runs:
            before = sink.messages()
            result = run()
            result["sink_counted"] = sink.wait_for_messages(before + n, timeout=30) - before
            results.append(result)
            print(json.dumps(result), flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="IEP delivery reference senders")
    parser.add_argument("which", choices=["all", "raw", "django"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", action="store_true", help="print only one JSON line")
    args = parser.parse_args(argv)

    if args.which == "all":
        results = _run_all(args.n, args.connections)
        raw = results[1]["msgs_per_s"]
        for result in results:
            rate = result.get("msgs_per_s") or result.get("end_to_end_per_s")
            print(f"{result['reference']:<36} {rate:>9.1f} msgs/s  {rate / raw:6.2f}x uvloop raw")
        return
    if args.port is None:
        parser.error("--port is required for raw and django")
    if args.which == "raw":
        result = raw_aiosmtplib(args.host, args.port, args.n, args.connections, not args.no_uvloop)
    else:
        workdir = args.workdir or Path(tempfile.mkdtemp(prefix="iep-bench-django-"))
        result = django_post_office(args.host, args.port, args.n, workdir)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
