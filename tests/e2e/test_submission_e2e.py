"""SMTP submission against the real `iep serve`, driven by smtplib and aiosmtplib.

One appliance for the module: submission on a plain port (STARTTLS offered) and an
implicit-TLS port with a self-signed certificate made here, relaying to the in-test sink.
Every bad input gets its SMTP reply and stores nothing: the tenant's message count is the
same before and after. The SIGKILL test runs its own appliance.
"""

import asyncio
import base64
import smtplib
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest

from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.smtp_sink import SmtpSink
from tests.support.tls import self_signed
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

MAX_BYTES = 200_000
SENDER = "noreply@example.com"


class Appliance:
    def __init__(self, server: ServerProcess, sink: SmtpSink, port: int, tls_port: int, key: str):
        self.server = server
        self.sink = sink
        self.port = port
        self.tls_port = tls_port
        self.key = key
        self.http = httpx.Client(base_url=server.base_url, headers={"x-api-key": key}, timeout=30)

    def count(self) -> int:
        n, cursor = 0, None
        while True:
            params: dict[str, Any] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            page = self.http.get("/v1/messages", params=params).json()
            n += len(page["data"])
            cursor = page["nextCursor"]
            if not cursor:
                return n

    def new_key(self, scopes: list[str], **extra: Any) -> str:
        resp = self.http.post("/v1/api-keys", json={"name": "t", "scopes": scopes, **extra})
        assert resp.status_code == 201, resp.text
        return resp.json()["key"]

    def smtp(self, key: str | None = None) -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        client.ehlo("client.test")
        if key is not False:
            client.login("product", key or self.key)
        return client


def start(tmp: Path, sink: SmtpSink, **submission: Any) -> tuple[ServerProcess, int]:
    port = free_port()
    smtp_port = free_port()
    config = write_config(
        tmp,
        port,
        providers={
            "relay": {"type": "smtp", "host": "127.0.0.1", "port": sink.port, "connections": 4}
        },
        routing={"default_provider": "relay"},
        delivery={"retry_schedule": [1, 1]},
        logging={"access_log": False},
        submission={
            "enabled": True,
            "port": smtp_port,
            "max_message_bytes": MAX_BYTES,
            **submission,
        },
    )
    server = ServerProcess(config, port, tmp / "logs")
    server.start()
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server, smtp_port


def initial_key(tmp: Path) -> str:
    text = (tmp / "data" / "initial-credentials.txt").read_text()
    return next(line[4:] for line in text.splitlines() if line.startswith("key="))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Appliance]:
    tmp = tmp_path_factory.mktemp("submission")
    cert, key = self_signed(tmp / "tls")
    tls_port = free_port()
    with SmtpSink() as sink:
        server, smtp_port = start(
            tmp, sink, tls_cert=str(cert), tls_key=str(key), tls_port=tls_port
        )
        appliance = Appliance(server, sink, smtp_port, tls_port, initial_key(tmp))
        try:
            yield appliance
        finally:
            appliance.http.close()
            server.stop()


def client_mime(subject: str = "Hello", extra: str = "", body: str = "Hi there.\r\n") -> bytes:
    return (
        f"From: Product <{SENDER}>\r\n"
        "To: Ann <ann@example.org>\r\n"
        "Cc: bob@example.org\r\n"
        f"Subject: {subject}\r\n"
        "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
        "Message-ID: <client-1@product.test>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"{extra}"
        "\r\n"
        f"{body}"
    ).encode()


def submit(
    client: smtplib.SMTP,
    raw: bytes,
    rcpts: list[str] | None = None,
    sender: str = SENDER,
    options: list[str] | None = None,
) -> tuple[int, str]:
    """MAIL, RCPT…, DATA by hand: the first refusal's (code, text), else DATA's."""
    code, text = client.mail(sender, options or [])
    if code != 250:
        client.rset()
        return code, text.decode()
    for rcpt in rcpts or ["ann@example.org"]:
        code, text = client.rcpt(rcpt)
        if code != 250:
            client.rset()
            return code, text.decode()
    code, text = client.data(raw)
    return code, text.decode()


def message_id_of(reply: str) -> str:
    return reply.rsplit(" ", 1)[-1]


# ---- the happy path ---------------------------------------------------------------------------


def test_client_mime_is_delivered_as_sent_apart_from_bcc_and_control_headers(
    app: Appliance,
) -> None:
    raw = client_mime(
        extra="Bcc: carol@example.org\r\nX-IEP-Category: welcome\r\nX-IEP-Tags: a, b\r\n"
    )
    with app.smtp() as client:
        code, text = submit(
            client, raw, ["ann@example.org", "bob@example.org", "carol@example.org"]
        )
    assert code == 250, text
    assert text.startswith("2.0.0")
    message_id = message_id_of(text)
    got = wait_until_sync(lambda: app.sink.by_iep_id().get(message_id), timeout=30)
    assert got == 1
    item = next(r for r in app.sink.received if message_id.encode() in r.data)
    assert sorted(item.rcpt_tos) == ["ann@example.org", "bob@example.org", "carol@example.org"]
    expected = raw.replace(b"Bcc: carol@example.org\r\n", b"")
    expected = expected.replace(b"X-IEP-Category: welcome\r\nX-IEP-Tags: a, b\r\n", b"")
    # The first-start domain has a DKIM key (DESIGN §10.3): the signature is prepended, and the
    # rest is the client's MIME as sent.
    signature, _, rest = item.data.partition(b"\r\nX-IEP-Message-Id: ")
    assert signature.startswith(b"DKIM-Signature: ")
    assert b"X-IEP-Message-Id: " + rest == f"X-IEP-Message-Id: {message_id}\r\n".encode() + expected
    view = app.http.get(f"/v1/messages/{message_id}").json()
    assert view["origin"] == "smtp"
    assert view["to"] == ["ann@example.org"]
    assert view["cc"] == ["bob@example.org"]
    assert view["bcc"] == ["carol@example.org"]
    assert view["subject"] == "Hello"
    assert view["metadata"] == {"category": "welcome", "tags": ["a", "b"]}


def test_message_id_and_date_are_added_when_missing(app: Appliance) -> None:
    raw = b"From: noreply@example.com\r\nTo: ann@example.org\r\nSubject: bare\r\n\r\nHi\r\n"
    with app.smtp() as client:
        code, text = submit(client, raw)
    assert code == 250, text
    message_id = message_id_of(text)
    wait_until_sync(lambda: app.sink.by_iep_id().get(message_id), timeout=30)
    item = next(r for r in app.sink.received if message_id.encode() in r.data)
    assert item.parsed["Message-ID"].startswith(f"<{message_id}@")
    assert item.parsed["Date"]
    assert item.data.endswith(raw)


def test_smtputf8_message_is_accepted(app: Appliance) -> None:
    raw = "From: noreply@example.com\r\nTo: ann@example.org\r\nSubject: Grüße\r\n\r\nÄ\r\n"
    with app.smtp() as client:
        code, text = submit(client, raw.encode(), options=["SMTPUTF8", "BODY=8BITMIME"])
    assert code == 250, text
    view = app.http.get(f"/v1/messages/{message_id_of(text)}").json()
    assert view["subject"] == "Grüße"


def test_ehlo_advertises_the_extensions(app: Appliance) -> None:
    with app.smtp(key=False) as client:  # type: ignore[arg-type]
        for name in ("size", "8bitmime", "smtputf8", "pipelining", "starttls", "auth"):
            assert client.has_extn(name), name
        assert client.esmtp_features["size"] == str(MAX_BYTES)
        assert "PLAIN" in client.esmtp_features["auth"]
        assert "LOGIN" in client.esmtp_features["auth"]


def test_auth_login_works_on_loopback_without_tls(app: Appliance) -> None:
    client = smtplib.SMTP("127.0.0.1", app.port, timeout=30)
    client.ehlo("client.test")
    client.user, client.password = "any-user", app.key
    code, _ = client.auth("LOGIN", client.auth_login)
    assert code == 235
    code, text = submit(client, client_mime())
    client.quit()
    assert code == 250, text


def test_starttls_with_a_self_signed_certificate(app: Appliance) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    client = smtplib.SMTP("127.0.0.1", app.port, timeout=30)
    client.ehlo("client.test")
    client.starttls(context=context)
    client.ehlo("client.test")
    assert not client.has_extn("starttls")
    client.login("product", app.key)
    code, text = submit(client, client_mime())
    client.quit()
    assert code == 250, text


def test_implicit_tls_port(app: Appliance) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    client = smtplib.SMTP_SSL("127.0.0.1", app.tls_port, timeout=30, context=context)
    client.ehlo("client.test")
    client.login("product", app.key)
    code, text = submit(client, client_mime())
    client.quit()
    assert code == 250, text


def test_many_messages_over_pipelining_connections_are_all_delivered(app: Appliance) -> None:
    async def run() -> list[str]:
        ids: list[str] = []

        async def connection(c: int) -> None:
            client = aiosmtplib.SMTP(
                hostname="127.0.0.1", port=app.port, timeout=30, start_tls=False
            )
            await client.connect()
            await client.ehlo()
            assert client.supports_extension("pipelining")
            await client.login("product", app.key)
            for i in range(25):
                errors, reply = await client.sendmail(
                    SENDER, ["ann@example.org"], client_mime(subject=f"p{c}-{i}")
                )
                assert not errors
                ids.append(reply.rsplit(" ", 1)[-1])
            await client.quit()

        await asyncio.gather(*(connection(c) for c in range(4)))
        return ids

    ids = asyncio.run(run())
    assert len(set(ids)) == 100
    wait_until_sync(lambda: all(i in app.sink.by_iep_id() for i in ids), timeout=60)


def test_sandbox_key_message_goes_to_the_outbox(app: Appliance) -> None:
    key = app.new_key(["send", "read"], sandbox=True)
    with app.smtp(key) as client:
        code, text = submit(client, client_mime(subject="sandboxed"))
    assert code == 250, text
    message_id = message_id_of(text)
    with httpx.Client(base_url=app.server.base_url, headers={"x-api-key": key}) as http:
        raw = wait_until_sync(
            lambda: (r := http.get(f"/v1/outbox/{message_id}/raw")).status_code == 200 and r,
            timeout=30,
        )
    assert raw.headers["content-type"].startswith("message/rfc822")
    assert b"Subject: sandboxed" in raw.content
    assert message_id not in app.sink.by_iep_id()


# ---- bad input: the right reply, nothing stored --------------------------------------------------


@pytest.fixture
def unchanged(app: Appliance) -> Iterator[None]:
    before = app.count()
    yield
    assert app.count() == before


def expect(reply: tuple[int, str], code: int, enhanced: str) -> None:
    assert reply[0] == code, reply
    assert reply[1].startswith(enhanced), reply


def test_non_ascii_header_without_smtputf8_is_554(app: Appliance, unchanged: None) -> None:
    raw = "From: noreply@example.com\r\nTo: ann@example.org\r\nSubject: Grüße\r\n\r\nx\r\n"
    with app.smtp() as client:
        expect(submit(client, raw.encode()), 554, "5.6.7")


def test_non_ascii_address_without_smtputf8_is_553(app: Appliance, unchanged: None) -> None:
    with app.smtp() as client:
        client.command_encoding = "utf-8"  # smtplib would refuse to send it at all
        expect(submit(client, client_mime(), ["jürgen@example.org"]), 553, "5.6.7")


def test_bare_lf_is_554(app: Appliance, unchanged: None) -> None:
    raw = b"From: noreply@example.com\nTo: ann@example.org\nSubject: lf\n\nbody\n"
    with app.smtp() as client:
        expect(submit(client, raw), 554, "5.6.0")


def test_line_over_998_octets_is_554(app: Appliance, unchanged: None) -> None:
    with app.smtp() as client:
        expect(submit(client, client_mime(body="x" * 999 + "\r\n")), 554, "5.6.0")


def test_size_over_the_limit_is_refused_at_mail(app: Appliance, unchanged: None) -> None:
    with app.smtp() as client:
        expect(submit(client, b"", options=[f"SIZE={MAX_BYTES + 1}"]), 552, "5.3.4")


def test_data_over_the_limit_is_552(app: Appliance) -> None:
    before = app.count()
    body = ("y" * 900 + "\r\n") * (MAX_BYTES // 900 + 10)
    with app.smtp() as client:
        expect(submit(client, client_mime(body=body)), 552, "5.3.4")
        assert app.count() == before
        # The connection is still usable: the next message goes through.
        assert submit(client, client_mime())[0] == 250
    assert app.count() == before + 1


def test_missing_from_is_554(app: Appliance, unchanged: None) -> None:
    raw = b"To: ann@example.org\r\nSubject: nofrom\r\n\r\nx\r\n"
    with app.smtp() as client:
        expect(submit(client, raw), 554, "5.6.0")


def test_from_header_of_another_domain_is_554(app: Appliance, unchanged: None) -> None:
    raw = b"From: ceo@othertenant.net\r\nTo: ann@example.org\r\nSubject: spoof\r\n\r\nx\r\n"
    with app.smtp() as client:
        expect(submit(client, raw), 554, "5.7.1")


def test_mail_from_of_another_domain_is_554(app: Appliance, unchanged: None) -> None:
    with app.smtp() as client:
        expect(submit(client, client_mime(), sender="x@othertenant.net"), 554, "5.7.1")


def test_mail_without_auth_is_530(app: Appliance, unchanged: None) -> None:
    with app.smtp(key=False) as client:  # type: ignore[arg-type]
        expect(submit(client, client_mime()), 530, "5.7.0")


def test_key_without_send_is_refused_at_auth(app: Appliance, unchanged: None) -> None:
    key = app.new_key(["read"])
    client = app.smtp(key=False)  # type: ignore[arg-type]
    with pytest.raises(smtplib.SMTPAuthenticationError) as err:
        client.login("product", key)
    assert err.value.smtp_code == 535
    assert b"send" in err.value.smtp_error
    client.close()


def test_expired_key_is_refused_at_auth(app: Appliance, unchanged: None) -> None:
    expires = time.time() + 2
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(expires)) + "Z"
    key = app.new_key(["send"], expiresAt=stamp)
    wait_until_sync(lambda: time.time() > expires + 1, timeout=10)
    client = app.smtp(key=False)  # type: ignore[arg-type]
    with pytest.raises(smtplib.SMTPAuthenticationError) as err:
        client.login("product", key)
    assert err.value.smtp_code == 535
    assert b"expired" in err.value.smtp_error
    client.close()


def test_too_many_recipients_is_452(app: Appliance, unchanged: None) -> None:
    rcpts = [f"r{i}@example.org" for i in range(51)]
    with app.smtp() as client:
        expect(submit(client, client_mime(), rcpts), 452, "4.5.3")


def test_client_that_drops_mid_data_stores_nothing(app: Appliance) -> None:
    before = app.count()
    sock = socket.create_connection(("127.0.0.1", app.port), timeout=30)
    reader = sock.makefile("rb")
    reader.readline()

    plain = base64.b64encode(f"\0product\0{app.key}".encode()).decode()
    for line in ("EHLO drop.test", f"AUTH PLAIN {plain}", f"MAIL FROM:<{SENDER}>",
                 "RCPT TO:<ann@example.org>", "DATA"):  # fmt: skip
        sock.sendall(line.encode() + b"\r\n")
        while True:
            reply = reader.readline()
            if reply[3:4] != b"-":
                break
    assert reply.startswith(b"354")
    sock.sendall(client_mime()[:60])
    reader.close()
    sock.close()
    with app.smtp() as client:  # a later message on a new connection is the only new one
        assert submit(client, client_mime())[0] == 250
    assert app.count() == before + 1


def test_auth_brute_force_is_slowed_and_logged(app: Appliance, unchanged: None) -> None:
    client = app.smtp(key=False)  # type: ignore[arg-type]
    took = []
    for i in range(3):
        started = time.monotonic()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("product", f"iep_live_wrong{i}")
        took.append(time.monotonic() - started)
    client.close()
    assert took[2] >= 1.0  # the third failure in a row waits (0.5 s, then 1 s, …)
    logs = app.server.stdout_text() + app.server.stderr_text()
    assert '"submission.auth_failed"' in logs
    assert "iep_live_wrong" not in logs  # the presented secret is never logged


# ---- crash safety --------------------------------------------------------------------------------


def test_sigkill_during_submission_loses_no_message_that_got_250(tmp_path: Path) -> None:
    """8 pipelining connections submit until the process is SIGKILLed after 300 `250`s;
    after a restart every message id answered `250` is in the store."""
    with SmtpSink() as sink:
        server, smtp_port = start(tmp_path, sink)
        key = initial_key(tmp_path)
        accepted: list[str] = []
        try:
            enough = asyncio.Event()

            async def connection(stop: asyncio.Event) -> None:
                client = aiosmtplib.SMTP(
                    hostname="127.0.0.1", port=smtp_port, timeout=30, start_tls=False
                )
                await client.connect()
                await client.login("product", key)
                try:
                    for i in range(2000):  # bounded
                        if stop.is_set():
                            return
                        _errors, reply = await client.sendmail(
                            SENDER, ["ann@example.org"], client_mime(subject=f"k{i}")
                        )
                        accepted.append(reply.rsplit(" ", 1)[-1])
                        if len(accepted) >= 300:
                            enough.set()
                except (aiosmtplib.SMTPException, OSError):
                    return  # the server died under us: that message got no 250
                finally:
                    client.close()

            async def run() -> None:
                stop = asyncio.Event()
                tasks = [asyncio.create_task(connection(stop)) for _ in range(8)]
                await asyncio.wait_for(enough.wait(), timeout=120)
                server.kill()  # mid-run: connections are inside MAIL, DATA or the commit
                stop.set()
                await asyncio.gather(*tasks)

            asyncio.run(run())
            assert len(accepted) >= 300
            server.start()
            server.wait_ready()
            with httpx.Client(base_url=server.base_url, headers={"x-api-key": key}) as http:
                missing = [m for m in accepted if http.get(f"/v1/messages/{m}").status_code != 200]
            assert missing == [], f"{len(missing)} of {len(accepted)} 250s lost"
        finally:
            server.stop()
