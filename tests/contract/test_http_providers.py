"""The HTTP-API providers against real peers: SES = moto's server, SendGrid and Mailgun = local
servers answering as those APIs do. Each returns SendOutcome facts that `classify` reads as
DESIGN §10.4 says (429/5xx/timeouts transient, other 4xx permanent), with the provider's
message id, and only health failures count against the breaker.
"""

import asyncio
import json
import socket
import time
from collections.abc import Iterator

import pytest

from iep_appliance.config_http_providers import (
    MailgunProviderConfig,
    SendgridProviderConfig,
    SesProviderConfig,
)
from iep_appliance.delivery.providers.base import Envelope
from iep_appliance.delivery.providers.mailgun import MailgunProvider
from iep_appliance.delivery.providers.sendgrid import SendgridProvider
from iep_appliance.delivery.providers.ses import SesProvider
from iep_appliance.domain.breaker import health_failure
from iep_appliance.domain.retry import classify, decide
from tests.support.fake_apis import FakeMailgun, FakeSendgrid, Reply
from tests.support.moto_ses import ACCESS_KEY, SECRET_KEY, MotoSes

MID = "01890000-0000-7000-8000-000000000001"


def mime(sender: str = "Alice <alice@example.com>") -> bytes:
    return (
        f"From: {sender}\r\nTo: Bob <bob@example.org>\r\nCc: carol@example.org\r\n"
        f"Subject: hi\r\nX-IEP-Message-Id: {MID}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
        "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hello</p>\r\n--b--\r\n"
    ).encode()


ENV = Envelope(
    "bounce@example.com", ("bob@example.org", "carol@example.org", "dave@example.org"), MID, "t1"
)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoSes]:
    with MotoSes() as ses:
        ses.verify("alice@example.com")
        yield ses


def ses_provider(url: str, **kw: object) -> SesProvider:
    cfg = SesProviderConfig(
        endpoint_url=url, access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY, **kw
    )
    return SesProvider("ses", cfg)


# ---- SES (moto) ---------------------------------------------------------------------------


async def test_ses_sends_raw_mime_and_keeps_the_message_id(moto: MotoSes) -> None:
    provider = ses_provider(moto.url)
    try:
        outcome = await provider.send(ENV, mime())
    finally:
        await provider.aclose()
    assert outcome.ok and classify(outcome) == "ok"
    stored = [m for m in moto.sent() if m["id"] == outcome.provider_message_id]
    assert len(stored) == 1
    assert stored[0]["raw_data"].encode() == mime()
    assert "dave@example.org" in stored[0]["destinations"]  # the envelope, Bcc included


async def test_ses_unverified_sender_is_permanent(moto: MotoSes) -> None:
    provider = ses_provider(moto.url)
    try:
        outcome = await provider.send(ENV, mime("mallory@example.net"))
    finally:
        await provider.aclose()
    assert outcome.stage == "http" and outcome.code == 400
    assert "mallory@example.net" in outcome.message
    assert classify(outcome) == "permanent" and not health_failure(outcome)


async def test_ses_probe_calls_the_api(moto: MotoSes) -> None:
    provider = ses_provider(moto.url)
    try:
        assert (await provider.probe()).ok
    finally:
        await provider.aclose()


async def test_ses_request_is_sigv4_signed(moto: MotoSes) -> None:
    provider = ses_provider(moto.url, configuration_set="events")
    req = provider.request(ENV, mime())
    await provider.aclose()
    auth = req.headers["authorization"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert "/us-east-1/ses/aws4_request" in auth and "x-amz-date" in req.headers
    body = json.loads(req.content)
    assert body["ConfigurationSetName"] == "events"
    assert body["EmailTags"] == [{"Name": "iep_message_id", "Value": MID}]
    assert body["FromEmailAddress"] == "alice@example.com"


# ---- SendGrid -----------------------------------------------------------------------------


def sendgrid(url: str, key: str = "SG.test-key", **kw: object) -> SendgridProvider:
    return SendgridProvider("sg", SendgridProviderConfig(endpoint_url=url, api_key=key, **kw))


async def test_sendgrid_sends_and_keeps_x_message_id() -> None:
    with FakeSendgrid() as api:
        provider = sendgrid(api.url)
        outcome = await provider.send(ENV, mime())
        await provider.aclose()
        assert outcome.ok and outcome.code == 202
        body = api.sent[0]
        assert outcome.provider_message_id == body["_id"]
        p = body["personalizations"][0]
        assert p["to"] == [{"email": "bob@example.org", "name": "Bob"}]
        assert p["cc"] == [{"email": "carol@example.org"}]
        assert p["bcc"] == [{"email": "dave@example.org"}]
        assert body["custom_args"] == {"iep_message_id": MID}
        assert body["headers"]["X-IEP-Message-Id"] == MID
        assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]


async def test_sendgrid_429_is_transient_and_honours_retry_after() -> None:
    with FakeSendgrid() as api:
        api.script(
            Reply(
                429,
                {"Retry-After": "120", "Content-Type": "application/json"},
                b'{"errors":[{"field":null,"message":"too many requests"}]}',
            )
        )
        provider = sendgrid(api.url)
        outcome = await provider.send(ENV, mime())
        await provider.aclose()
    assert outcome.code == 429 and outcome.retry_after == 120
    assert "too many requests" in outcome.message
    assert classify(outcome) == "transient" and health_failure(outcome)
    assert decide(outcome, 1, [60, 300]).retry_in == 120  # Retry-After over the schedule


async def test_sendgrid_bad_key_is_permanent_and_probe_names_auth() -> None:
    with FakeSendgrid() as api:
        provider = sendgrid(api.url, key="SG.wrong")
        outcome = await provider.send(ENV, mime())
        probe = await provider.probe()
        await provider.aclose()
    assert outcome.code == 401 and classify(outcome) == "permanent"
    assert "authorization grant is invalid" in outcome.message
    assert not probe.ok and probe.step == "auth" and probe.detail.startswith("401")


async def test_sendgrid_answer_that_is_not_json() -> None:
    with FakeSendgrid() as api:
        api.script(Reply(503, {"Content-Type": "text/html"}, b"<html>Service Unavailable</html>"))
        api.script(Reply(400, {"Content-Type": "application/json"}, b"{not json"))
        provider = sendgrid(api.url)
        unavailable = await provider.send(ENV, mime())
        broken = await provider.send(ENV, mime())
        await provider.aclose()
    assert unavailable.code == 503 and classify(unavailable) == "transient"
    assert "Service Unavailable" in unavailable.message
    assert broken.code == 400 and classify(broken) == "permanent"
    assert "unreadable JSON" in broken.message


async def test_sendgrid_probe_ok() -> None:
    with FakeSendgrid() as api:
        provider = sendgrid(api.url)
        assert (await provider.probe()).ok
        await provider.aclose()
        assert api.requests[-1].path == "/v3/scopes"


async def test_max_per_second_spaces_sends() -> None:
    with FakeSendgrid() as api:
        provider = sendgrid(api.url, max_per_second=10)
        start = time.monotonic()
        outcomes = await asyncio.gather(*(provider.send(ENV, mime()) for _ in range(4)))
        elapsed = time.monotonic() - start
        await provider.aclose()
    assert all(o.ok for o in outcomes)
    assert elapsed >= 0.29  # 4 sends at 10/s: 3 gaps of 0.1 s


# ---- Mailgun ------------------------------------------------------------------------------


def mailgun(url: str, key: str = "key-test", domain: str = "mg.example.com") -> MailgunProvider:
    cfg = MailgunProviderConfig(endpoint_url=url, api_key=key, domain=domain)
    return MailgunProvider("mg", cfg)


async def test_mailgun_sends_mime_with_the_message_variable() -> None:
    with FakeMailgun() as api:
        provider = mailgun(api.url)
        outcome = await provider.send(ENV, mime())
        probe = await provider.probe()
        await provider.aclose()
        assert outcome.ok and outcome.provider_message_id == api.sent[0]["id"]
        assert api.sent[0]["message"] == mime()
        assert api.sent[0]["to"] == list(ENV.rcpt_to)
        assert api.sent[0]["variables"] == {"iep_message_id": MID}
        assert probe.ok


async def test_mailgun_forbidden_plain_text_and_unknown_domain() -> None:
    with FakeMailgun() as api:
        wrong_key = mailgun(api.url, key="nope")
        outcome = await wrong_key.send(ENV, mime())
        probe = await wrong_key.probe()
        await wrong_key.aclose()
        wrong_domain = mailgun(api.url, domain="other.example.com")
        domain_probe = await wrong_domain.probe()
        await wrong_domain.aclose()
    assert outcome.code == 401 and outcome.message == "Forbidden"
    assert classify(outcome) == "permanent" and not health_failure(outcome)
    assert probe.step == "auth"
    assert domain_probe.step == "api" and "Domain not found" in domain_probe.detail


def test_mailgun_regions() -> None:
    us = MailgunProvider("a", MailgunProviderConfig(domain="d.com", api_key="k"))
    eu = MailgunProvider("b", MailgunProviderConfig(domain="d.com", api_key="k", region="eu"))
    assert us.base == "https://api.mailgun.net" and eu.base == "https://api.eu.mailgun.net"


# ---- network ------------------------------------------------------------------------------


async def test_refused_connection_and_timeout_are_transient_health_failures() -> None:
    # `closed` stays bound, never listening: connections are refused and nobody else (nor a
    # self-connect from an ephemeral port) can take the port while the test runs.
    with socket.socket() as closed, socket.socket() as silent:
        closed.bind(("127.0.0.1", 0))
        refused_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        silent.bind(("127.0.0.1", 0))  # accepts into the backlog and never answers
        silent.listen(8)
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        refused = sendgrid(refused_url)
        slow = sendgrid(silent_url, timeout_seconds=0.3)
        r = await refused.send(ENV, mime())
        t = await slow.send(ENV, mime())
        probe = await refused.probe()
        await refused.aclose()
        await slow.aclose()
    assert r.stage == "network" and classify(r) == "transient" and health_failure(r)
    assert t.stage == "timeout" and classify(t) == "transient" and health_failure(t)
    assert probe.step == "connect"


async def test_mime_the_api_cannot_take_fails_the_message_not_the_provider() -> None:
    with FakeSendgrid() as api:
        provider = sendgrid(api.url)
        outcome = await provider.send(ENV, b"Subject: no sender\r\n\r\nhi\r\n")
        await provider.aclose()
        assert api.requests == []  # nothing sent
    assert outcome.code == 400 and "no From address" in outcome.message
    assert classify(outcome) == "permanent" and not health_failure(outcome)
