"""DKIM end to end: the real `iep serve` signs what it sends, and dkimpy's own
verification, asking a real DNS server on 127.0.0.1 for the record IEP told us to publish,
accepts the signature. Rotation keeps signing with the old key until DNS shows the new one.
"""

from pathlib import Path
from typing import Any

import dkim
import dns.nameserver
import dns.resolver
import httpx
import pytest

from tests.support.dns_server import DnsServer
from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.smtp_sink import Received, SmtpSink
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def local_txt(dns_server: DnsServer) -> Any:
    """A dkimpy `dnsfunc` that asks the test's DNS server (real UDP queries)."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", dns_server.port)]

    def get_txt(name: bytes, timeout: float = 5) -> bytes | None:
        try:
            answer = resolver.resolve(name.decode().rstrip("."), "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        return b"".join(next(iter(answer)).strings)

    return get_txt


@pytest.fixture
def server(tmp_path: Path, smtp_sink: SmtpSink, dns_server: DnsServer) -> Any:
    port = free_port()
    config = write_config(
        tmp_path,
        port,
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port}},
        routing={"default_provider": "relay"},
        dns={"nameservers": [dns_server.nameserver], "timeout_seconds": 2},
        logging={"access_log": False},
    )
    with ServerProcess(config, port, tmp_path / "logs") as proc:
        yield proc


@pytest.fixture
def client(server: ServerProcess, tmp_path: Path) -> Any:
    text = (tmp_path / "data" / "initial-credentials.txt").read_text()
    key = next(line[4:] for line in text.splitlines() if line.startswith("key="))
    with httpx.Client(
        base_url=server.base_url, headers={"x-api-key": key}, timeout=30, trust_env=False
    ) as http:
        yield http


def send_and_receive(client: httpx.Client, sink: SmtpSink, sender: str) -> Received:
    resp = client.post(
        "/v1/messages",
        json={
            "to": ["ada@example.org"],
            "cc": ["bob@example.org"],
            "from": {"email": sender, "name": "Zoë"},
            "subject": "Grüße {{n}}",
            "htmlBody": "<p>Hello {{n}}</p>",
            "variables": {"n": 1},
        },
    )
    assert resp.status_code == 202, resp.text
    message_id = resp.json()["messageId"]
    wait_until_sync(lambda: message_id in sink.by_iep_id(), timeout=30)
    return next(r for r in sink.received if r.parsed["X-IEP-Message-Id"] == message_id)


def tags(received: Received) -> dict[str, str]:
    value = "".join(str(received.parsed["DKIM-Signature"]).split())
    return dict(part.split("=", 1) for part in value.split(";") if part)


def test_a_sent_message_passes_dkimpy_verification_against_the_published_record(
    client: httpx.Client, smtp_sink: SmtpSink, dns_server: DnsServer
) -> None:
    domain = client.get("/v1/domains/example.com").json()
    assert domain["dkim"]["algorithm"] == "rsa"
    dkim_record = next(r for r in domain["records"] if r["purpose"] == "dkim")
    assert dkim_record["name"] == f"{domain['dkim']['selector']}._domainkey.example.com"
    dns_server.publish([dkim_record])

    received = send_and_receive(client, smtp_sink, "noreply@example.com")

    signed = tags(received)
    assert signed["d"] == "example.com"
    assert signed["c"] == "relaxed/relaxed"
    assert {"from", "to", "cc", "subject", "date", "message-id", "mime-version"} <= set(
        signed["h"].split(":")
    )
    assert dkim.verify(received.data, dnsfunc=local_txt(dns_server))
    assert ("TXT", dkim_record["name"].lower()) in dns_server.queries
    tampered = received.data.replace(b"Subject:", b"Subject: X", 1)
    assert not dkim.verify(tampered, dnsfunc=local_txt(dns_server))


def test_rotation_signs_with_the_new_selector_only_once_dns_shows_it(
    client: httpx.Client, smtp_sink: SmtpSink, dns_server: DnsServer
) -> None:
    before = client.get("/v1/domains/example.com").json()
    dns_server.publish(before["records"])
    rotated = client.post("/v1/domains/example.com/dkim/rotate", json={})
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()["nextDkim"]
    assert new["selector"] != before["dkim"]["selector"]
    assert client.post("/v1/domains/example.com/dkim/rotate", json={}).status_code == 409

    first = send_and_receive(client, smtp_sink, "noreply@example.com")
    assert tags(first)["s"] == before["dkim"]["selector"]

    dns_server.publish(rotated.json()["records"])  # both selectors now published
    checked = client.post("/v1/domains/example.com/verify").json()
    assert checked["dkim"]["selector"] == new["selector"], checked
    assert checked["nextDkim"] is None

    second = send_and_receive(client, smtp_sink, "noreply@example.com")
    assert tags(second)["s"] == new["selector"]
    assert dkim.verify(second.data, dnsfunc=local_txt(dns_server))
    assert dkim.verify(first.data, dnsfunc=local_txt(dns_server))  # old record still there


def test_an_ed25519_domain_sends_once_dns_verifies_it_and_its_signature_verifies(
    client: httpx.Client, smtp_sink: SmtpSink, dns_server: DnsServer
) -> None:
    added = client.post(
        "/v1/domains", json={"domain": "ed.example.net", "dkimAlgorithm": "ed25519"}
    )
    assert added.status_code == 201, added.text
    assert added.json()["status"] == "pending"
    refused = client.post(
        "/v1/messages",
        json={
            "to": ["a@example.org"],
            "from": {"email": "x@ed.example.net"},
            "subject": "s",
            "htmlBody": "<p>t</p>",
        },
    )
    assert refused.status_code == 403, refused.text

    detail = client.get("/v1/domains/ed.example.net").json()
    assert detail["status"] == "pending"
    dns_server.publish(detail["records"])
    verified = client.post("/v1/domains/ed.example.net/verify").json()
    assert verified["status"] == "verified", verified
    assert {r["status"] for r in verified["records"] if r["purpose"] != "return_path"} == {
        "verified"
    }

    received = send_and_receive(client, smtp_sink, "x@ed.example.net")
    assert tags(received)["a"] == "ed25519-sha256"
    assert dkim.verify(received.data, dnsfunc=local_txt(dns_server))


def test_unsubscribe_headers_are_on_the_wire_and_covered_by_the_dkim_signature(
    client: httpx.Client, smtp_sink: SmtpSink, dns_server: DnsServer
) -> None:
    domain = client.get("/v1/domains/example.com").json()
    dns_server.publish([r for r in domain["records"] if r["purpose"] == "dkim"])
    resp = client.post(
        "/v1/messages",
        json={
            "to": ["ada@example.org"],
            "from": {"email": "news@example.com"},
            "subject": "Weekly",
            "htmlBody": "<p>News</p>",
            "unsubscribe": True,
        },
    )
    assert resp.status_code == 202, resp.text
    message_id = resp.json()["messageId"]
    wait_until_sync(lambda: message_id in smtp_sink.by_iep_id(), timeout=30)
    received = next(r for r in smtp_sink.received if r.parsed["X-IEP-Message-Id"] == message_id)

    assert received.parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/u/" in str(received.parsed["List-Unsubscribe"])
    signed = set(tags(received)["h"].split(":"))
    assert {"list-unsubscribe", "list-unsubscribe-post"} <= signed
    assert dkim.verify(received.data, dnsfunc=local_txt(dns_server))
    forged = received.data.replace(b"List-Unsubscribe: <", b"List-Unsubscribe: <http://evil/", 1)
    assert forged != received.data
    assert not dkim.verify(forged, dnsfunc=local_txt(dns_server))


# ---- every way in: SMTP submission, the Resend and Postmark compatible APIs -----------------


@pytest.fixture
def every_way_in(tmp_path: Path, smtp_sink: SmtpSink, dns_server: DnsServer) -> Any:
    port, smtp_port = free_port(), free_port()
    config = write_config(
        tmp_path,
        port,
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port}},
        routing={"default_provider": "relay"},
        dns={"nameservers": [dns_server.nameserver], "timeout_seconds": 2},
        submission={"enabled": True, "port": smtp_port},
        logging={"access_log": False},
    )
    with ServerProcess(config, port, tmp_path / "logs") as proc:
        text = (tmp_path / "data" / "initial-credentials.txt").read_text()
        key = next(line[4:] for line in text.splitlines() if line.startswith("key="))
        with httpx.Client(
            base_url=proc.base_url, headers={"x-api-key": key}, timeout=30, trust_env=False
        ) as http:
            domain = http.get("/v1/domains/example.com").json()
            dns_server.publish([r for r in domain["records"] if r["purpose"] == "dkim"])
            yield http, key, smtp_port


def arrived(sink: SmtpSink, message_id: str) -> Received:
    wait_until_sync(lambda: message_id in sink.by_iep_id(), timeout=30)
    return next(r for r in sink.received if r.parsed["X-IEP-Message-Id"] == message_id)


def verified(received: Received, dns_server: DnsServer) -> dict[str, str]:
    signed = tags(received)
    assert signed["d"] == "example.com"
    assert dkim.verify(received.data, dnsfunc=local_txt(dns_server))
    return signed


def test_a_message_submitted_over_smtp_arrives_signed_and_verifies(
    every_way_in: Any, smtp_sink: SmtpSink, dns_server: DnsServer
) -> None:
    import smtplib
    from email.message import EmailMessage

    http, key, smtp_port = every_way_in
    msg = EmailMessage()
    msg["From"] = "App <noreply@example.com>"
    msg["To"] = "ada@example.org"
    msg["Subject"] = "Submitted"
    msg.set_content("Plain text from a mail client.\n")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
        client.ehlo("client.test")
        client.login("product", key)
        client.send_message(msg)
    wait_until_sync(lambda: len(smtp_sink.received) == 1, timeout=30)
    [received] = smtp_sink.received
    signed = verified(received, dns_server)
    assert {"from", "to", "subject"} <= set(signed["h"].split(":"))
    view = http.get(f"/v1/messages/{received.parsed['X-IEP-Message-Id']}").json()
    assert view["origin"] == "smtp"  # the raw-MIME path (delivery/compose.py compose)
    assert received.data.startswith(b"DKIM-Signature: ")


def test_a_resend_compatible_send_arrives_signed_and_verifies(
    every_way_in: Any, smtp_sink: SmtpSink, dns_server: DnsServer
) -> None:
    http, key, _ = every_way_in
    resp = http.post(
        "/compat/resend/emails",
        json={
            "from": "Acme <hello@example.com>",
            "to": ["ada@example.org"],
            "subject": "Via Resend",
            "html": "<p>hi</p>",
        },
        headers={"authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 200, resp.text
    verified(arrived(smtp_sink, resp.json()["id"]), dns_server)


def test_a_postmark_compatible_send_arrives_signed_and_verifies(
    every_way_in: Any, smtp_sink: SmtpSink, dns_server: DnsServer
) -> None:
    http, key, _ = every_way_in
    resp = http.post(
        "/email",  # Postmark's own path, at the root
        json={
            "From": "Acme <hello@example.com>",
            "To": "ada@example.org",
            "Subject": "Via Postmark",
            "TextBody": "hi",
        },
        headers={"X-Postmark-Server-Token": key, "accept": "application/json"},
    )
    assert resp.status_code == 200, resp.text
    verified(arrived(smtp_sink, resp.json()["MessageID"]), dns_server)
