"""`"unsubscribe": true` on a send, and the tenant's default (DESIGN §10.3): which messages get
List-Unsubscribe headers on the wire (a real SMTP sink as the relay)."""

from typing import Any

import pytest

from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.integration.tenant.test_inbound import BOUNCE_DOMAIN, sent_with_unsubscribe
from tests.support.smtp_sink import Received, SmtpSink
from tests.support.waiting import wait_until


@pytest.fixture
async def started(appliance: Appliance, smtp_sink: SmtpSink) -> Appliance:
    appliance.configure(
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port}},
        routing={"default_provider": "relay"},
        inbound={"enabled": True, "port": 0, "bounce_domain": BOUNCE_DOMAIN},
    )
    await appliance.start()
    return appliance


async def received(appliance: Appliance, who: TenantKey, sink: SmtpSink, **body: Any) -> Received:
    resp = await appliance.client.post("/v1/messages", json=message(**body), headers=who.auth)
    assert resp.status_code == 202, resp.text
    message_id = resp.json()["messageId"]
    await wait_until(lambda: message_id in sink.by_iep_id(), timeout=15)
    return next(r for r in sink.received if r.parsed["X-IEP-Message-Id"] == message_id)


async def test_top_level_unsubscribe_adds_the_headers_and_false_or_absent_does_not(
    started: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await started.tenant("acme")
    await sent_with_unsubscribe(started, acme, smtp_sink, "a@example.org", unsubscribe=True)
    plain = await received(started, acme, smtp_sink, to=["b@example.org"])
    assert "List-Unsubscribe" not in plain.parsed
    off = await received(started, acme, smtp_sink, to=["c@example.org"], unsubscribe=False)
    assert "List-Unsubscribe" not in off.parsed


async def test_the_interim_metadata_flag_still_works(
    started: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await started.tenant("acme")
    await sent_with_unsubscribe(
        started, acme, smtp_sink, "a@example.org", metadata={"unsubscribe": True}
    )


async def test_the_tenant_default_applies_unless_the_send_says_false(
    started: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await started.tenant("acme")
    patched = await started.client.patch(
        "/v1/tenant", json={"unsubscribe": True}, headers=acme.auth
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["unsubscribe"] is True
    assert (await started.client.get("/v1/tenant", headers=acme.auth)).json()["unsubscribe"]
    await sent_with_unsubscribe(started, acme, smtp_sink, "a@example.org", cc=[])
    off = await received(started, acme, smtp_sink, to=["c@example.org"], unsubscribe=False)
    assert "List-Unsubscribe" not in off.parsed


async def test_a_batch_takes_the_flag_for_each_of_its_messages(
    started: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await started.tenant("acme")
    body = message(to=["x@example.org"])
    batch = {
        "from": body["from"],
        "subject": body["subject"],
        "htmlBody": body["htmlBody"],
        "recipients": [{"to": ["x@example.org"]}, {"to": ["y@example.org"]}],
        "unsubscribe": True,
    }
    resp = await started.client.post("/v1/messages/batch", json=batch, headers=acme.auth)
    assert resp.status_code == 202, resp.text
    await wait_until(lambda: len(smtp_sink.received) == 2, timeout=15)
    for r in smtp_sink.received:
        assert r.parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "/u/" in str(r.parsed["List-Unsubscribe"])


@pytest.mark.parametrize("bad", ["yes", 1, None])
async def test_a_non_boolean_unsubscribe_is_refused_naming_the_field(
    started: Appliance, bad: Any
) -> None:
    acme = await started.tenant("acme")
    resp = await started.client.patch("/v1/tenant", json={"unsubscribe": bad}, headers=acme.auth)
    assert resp.status_code == 422, resp.text
    assert "unsubscribe" in resp.text
    if isinstance(bad, str):  # null on a send means "the tenant's default"
        send = await started.client.post(
            "/v1/messages", json=message(unsubscribe=bad), headers=acme.auth
        )
        assert send.status_code == 422, send.text
        assert "unsubscribe" in send.text
