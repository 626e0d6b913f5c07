"""The inbound listener in the running appliance (DESIGN §10.3): IEP sends with a VERP envelope
sender, a DSN or ARF mailed back over real SMTP to the listener turns into events, statuses,
suppressions and webhooks; anything forged, replayed, foreign or malformed changes nothing."""

from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until
from tests.support.webhook_sink import WebhookSink

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "bounces"
BOUNCE_DOMAIN = "bounces.iep.test"


@pytest.fixture
async def started(appliance: Appliance, smtp_sink: SmtpSink) -> Appliance:
    appliance.configure(
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port}},
        routing={"default_provider": "relay"},
        inbound={"enabled": True, "port": 0, "bounce_domain": BOUNCE_DOMAIN},
        webhooks={"allow_private_networks": True},
        reputation={"min_messages": 2},
    )
    await appliance.start()
    return appliance


async def sent(appliance: Appliance, who: TenantKey, sink: SmtpSink, to: list[str]) -> Any:
    resp = await appliance.client.post("/v1/messages", json=message(to=to), headers=who.auth)
    assert resp.status_code == 202, resp.text
    message_id = resp.json()["messageId"]
    await wait_until(lambda: message_id in sink.by_iep_id(), timeout=15)
    received = next(r for r in sink.received if r.parsed["X-IEP-Message-Id"] == message_id)
    await wait_until(lambda: status_of(appliance, who, message_id), timeout=10)
    return message_id, received.mail_from


async def status_of(appliance: Appliance, who: TenantKey, message_id: str) -> str:
    resp = await appliance.client.get(f"/v1/messages/{message_id}", headers=who.auth)
    return resp.json()["status"] if resp.json()["status"] == "sent" else ""


def sample(name: str, rcpt: str, message_id: str, verp: str) -> bytes:
    text = (SAMPLES / name).read_text()
    text = text.replace("{RCPT}", rcpt).replace("{IEPID}", message_id).replace("{VERP}", verp)
    return text.replace("\n", "\r\n").encode()


async def mail(appliance: Appliance, rcpt: str, data: bytes, sender: str = "") -> None:
    """MAIL FROM:<sender> (default <>, as MTAs send bounces), one RCPT, DATA."""
    port = appliance.rt.services.inbound_listener.port
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) as smtp:
        await smtp.mail(sender)
        await smtp.rcpt(rcpt)
        await smtp.data(data)


async def detail(appliance: Appliance, who: TenantKey, message_id: str) -> dict[str, Any]:
    resp = await appliance.client.get(f"/v1/messages/{message_id}", headers=who.auth)
    assert resp.status_code == 200
    return resp.json()


async def suppressed(appliance: Appliance, who: TenantKey) -> dict[str, str]:
    resp = await appliance.client.get("/v1/suppressions", headers=who.auth)
    return {s["email"]: s["reason"] for s in resp.json()["data"]}


async def test_a_postfix_5_1_1_dsn_bounces_a_sent_message_and_suppresses_at_once(
    started: Appliance, smtp_sink: SmtpSink, webhook_sink: WebhookSink
) -> None:
    acme = await started.tenant("acme")
    hook = await started.client.post(
        "/v1/webhooks",
        json={"url": webhook_sink.url(), "events": ["message.bounced"]},
        headers=acme.auth,
    )
    assert hook.status_code == 201, hook.text
    message_id, verp = await sent(started, acme, smtp_sink, ["nobody@example.org"])
    assert verp.startswith("bounce+") and verp.endswith("@" + BOUNCE_DOMAIN)

    await mail(
        started, verp, sample("postfix_dsn_5.1.1.eml", "nobody@example.org", message_id, verp)
    )

    found = await detail(started, acme, message_id)
    assert found["status"] == "bounced"
    bounced = [e for e in found["events"] if e["type"] == "bounced"]
    assert bounced[-1]["data"]["kind"] == "hard"
    assert bounced[-1]["data"]["status"] == "5.1.1"
    assert bounced[-1]["data"]["recipient"] == "nobody@example.org"
    assert await suppressed(started, acme) == {"nobody@example.org": "hard_bounce"}
    await wait_until(lambda: len(webhook_sink.requests) == 1, timeout=15)
    body = webhook_sink.requests[0].json()
    assert body["event"] == "message.bounced" and body["messageId"] == message_id
    assert body["data"]["status"] == "5.1.1"
    inbound = await started.rt.services.store.inbound_for_message(acme.tenant_id, message_id)
    assert [i.kind for i in inbound] == ["bounce"]


async def test_a_replayed_dsn_changes_nothing_twice(
    started: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await started.tenant("acme")
    message_id, verp = await sent(started, acme, smtp_sink, ["a@example.org"])
    dsn = sample("exim_dsn_5.0.0.eml", "a@example.org", message_id, verp)

    await mail(started, verp, dsn)
    await mail(started, verp, dsn)

    events = (await detail(started, acme, message_id))["events"]
    assert [e["type"] for e in events].count("bounced") == 1
    assert await suppressed(started, acme) == {}  # 5.0.0: one of three strikes
    assert len(await started.rt.services.store.inbound_for_message(acme.tenant_id, message_id)) == 2


async def test_a_complaint_to_fbl_suppresses_with_reason_complaint(
    started: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await started.tenant("acme")
    message_id, verp = await sent(started, acme, smtp_sink, ["c@example.org"])

    await mail(
        started,
        f"fbl@{BOUNCE_DOMAIN}",
        sample("yahoo_arf_abuse.eml", "c@example.org", message_id, verp),
    )

    found = await detail(started, acme, message_id)
    assert found["status"] == "sent"
    assert "complained" in [e["type"] for e in found["events"]]
    assert await suppressed(started, acme) == {"c@example.org": "complaint"}


@pytest.mark.parametrize(
    ("name", "kind"), [("gmail_dsn_4.2.2_delayed.eml", "soft"), ("ses_dsn_5.7.1.eml", "policy")]
)
async def test_soft_and_policy_bounces_are_events_only(
    started: Appliance, smtp_sink: SmtpSink, name: str, kind: str
) -> None:
    acme = await started.tenant("acme")
    message_id, verp = await sent(started, acme, smtp_sink, ["s@example.org"])

    await mail(started, verp, sample(name, "s@example.org", message_id, verp))

    found = await detail(started, acme, message_id)
    assert found["status"] == "sent"
    assert [e["data"]["kind"] for e in found["events"] if e["type"] == "bounced"] == [kind]
    assert await suppressed(started, acme) == {}


async def test_other_addresses_and_forged_tokens_are_refused_at_rcpt(
    started: Appliance,
) -> None:
    for rcpt in [
        f"postmaster@{BOUNCE_DOMAIN}",
        "someone@example.org",
        f"bounce+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@{BOUNCE_DOMAIN}",
        f"unsubscribe+zz@{BOUNCE_DOMAIN}",
    ]:
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as caught:
            await mail(started, rcpt, b"Subject: x\r\n\r\nhi\r\n")
        assert caught.value.code == 550


async def test_a_dsn_naming_someone_else_or_another_tenants_message_changes_nothing(
    started: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await started.tenant("acme")
    globex = await started.tenant("globex")
    acme_id, acme_verp = await sent(started, acme, smtp_sink, ["a@example.org"])
    globex_id, _ = await sent(started, globex, smtp_sink, ["g@example.org"])

    # acme's genuine token, but the report names globex's message and recipient
    await mail(
        started, acme_verp, sample("postfix_dsn_5.1.1.eml", "g@example.org", globex_id, acme_verp)
    )
    # a complaint for a message id nobody sent
    await mail(
        started,
        f"fbl@{BOUNCE_DOMAIN}",
        sample("yahoo_arf_abuse.eml", "a@example.org", "01936f4e-0000-7000-8000-000000000000", ""),
    )

    for who, message_id in ((acme, acme_id), (globex, globex_id)):
        found = await detail(started, who, message_id)
        assert found["status"] == "sent"
        assert not {"bounced", "complained"} & {e["type"] for e in found["events"]}
        assert await suppressed(started, who) == {}


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\xff not mail at all",
        b"Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\n" * 3,
        b"".join(
            f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode()
            for i in range(300)
        ),
    ],
)
async def test_malformed_reports_are_stored_and_change_nothing(
    started: Appliance, smtp_sink: SmtpSink, data: bytes
) -> None:
    acme = await started.tenant("acme")
    message_id, verp = await sent(started, acme, smtp_sink, ["m@example.org"])

    await mail(started, verp, data)

    found = await detail(started, acme, message_id)
    assert found["status"] == "sent"
    assert await suppressed(started, acme) == {}
    assert len(await started.rt.services.store.inbound_for_message(acme.tenant_id, message_id)) == 1


async def test_a_mail_over_the_size_limit_is_refused_552(started: Appliance) -> None:
    verp_rcpt = f"fbl@{BOUNCE_DOMAIN}"
    huge = b"Subject: x\r\n\r\n" + (b"y" * 70 + b"\r\n") * 15100  # > 1 MiB

    with pytest.raises(aiosmtplib.SMTPResponseException) as caught:
        await mail(started, verp_rcpt, huge)

    assert caught.value.code == 552


async def test_a_non_dsn_qmail_bounce_counts_a_hard_bounce_through_flufl_bounce(
    started: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await started.tenant("acme")
    message_id, verp = await sent(started, acme, smtp_sink, ["q@example.org"])

    await mail(started, verp, sample("qmail_non_dsn.eml", "q@example.org", message_id, verp))

    found = await detail(started, acme, message_id)
    bounced = [e["data"] for e in found["events"] if e["type"] == "bounced"]
    assert [(b["kind"], b["recipient"]) for b in bounced] == [("hard", "q@example.org")]
    assert found["status"] == "bounced"  # its only recipient hard-bounced


async def test_the_dashboard_message_page_shows_the_inbound_mail_escaped(
    started: Appliance, smtp_sink: SmtpSink
) -> None:
    from iep_appliance.app import build_app
    from tests.integration.admin.conftest import signed_in
    from tests.integration.test_admin import admin_password

    acme = await started.tenant("acme")
    message_id, verp = await sent(started, acme, smtp_sink, ["nobody@example.org"])
    dsn = sample("postfix_dsn_5.1.1.eml", "nobody@example.org", message_id, verp)
    await mail(started, verp, dsn.replace(b"The mail system", b"<script>x()</script>", 1))

    async for operator in signed_in(
        build_app(started.rt), "admin@example.com", admin_password(started)
    ):
        page = await operator.page(f"/admin/messages/{message_id}")
        assert page.status_code == 200
        assert "Inbound mail" in page.text
        assert "hard nobody@example.org 5.1.1" in page.text
        assert "Undelivered Mail Returned to Sender" in page.text
        assert "&lt;script&gt;x()&lt;/script&gt;" in page.text
        assert "<script>x()" not in page.text


async def sent_with_unsubscribe(
    appliance: Appliance, who: TenantKey, sink: SmtpSink, to: str, **asks: Any
) -> tuple[str, str, str]:
    body = message(to=[to], **(asks or {"unsubscribe": True}))
    resp = await appliance.client.post("/v1/messages", json=body, headers=who.auth)
    assert resp.status_code == 202, resp.text
    message_id = resp.json()["messageId"]
    await wait_until(lambda: message_id in sink.by_iep_id(), timeout=15)
    received = next(r for r in sink.received if r.parsed["X-IEP-Message-Id"] == message_id)
    header = " ".join(str(received.parsed["List-Unsubscribe"]).split())
    assert received.parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link, mailto = (part.strip(" <>") for part in header.split(","))
    assert mailto.startswith("mailto:unsubscribe+") and mailto.endswith("@" + BOUNCE_DOMAIN)
    return message_id, link.rsplit("/u/", 1)[1], mailto.removeprefix("mailto:")


async def test_one_click_unsubscribe_suppresses_once_and_is_idempotent(
    started: Appliance, smtp_sink: SmtpSink, webhook_sink: WebhookSink
) -> None:
    acme = await started.tenant("acme")
    hook = await started.client.post(
        "/v1/webhooks",
        json={"url": webhook_sink.url(), "events": ["message.unsubscribed"]},
        headers=acme.auth,
    )
    assert hook.status_code == 201, hook.text
    message_id, token, _ = await sent_with_unsubscribe(started, acme, smtp_sink, "u@example.org")
    form = {"content": b"List-Unsubscribe=One-Click",
            "headers": {"content-type": "application/x-www-form-urlencoded"}}  # fmt: skip

    first = await started.client.post(f"/u/{token}", **form)
    again = await started.client.post(f"/u/{token}", **form)
    page = await started.client.get(f"/u/{token}")

    assert first.status_code == again.status_code == 200
    assert page.status_code == 200 and f'action="/u/{token}"' in page.text
    assert await suppressed(started, acme) == {"u@example.org": "unsubscribe"}
    events = [e["type"] for e in (await detail(started, acme, message_id))["events"]]
    assert events.count("unsubscribed") == 1
    await wait_until(lambda: len(webhook_sink.requests) == 1, timeout=15)
    assert webhook_sink.requests[0].json()["event"] == "message.unsubscribed"


async def test_a_tampered_unsubscribe_token_is_404_and_changes_nothing(
    started: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await started.tenant("acme")
    _, token, _ = await sent_with_unsubscribe(started, acme, smtp_sink, "t@example.org")
    bad = token[:-1] + ("a" if token[-1] != "a" else "b")

    resp = await started.client.post(f"/u/{bad}", content=b"List-Unsubscribe=One-Click")
    page = await started.client.get(f"/u/{bad}")

    assert resp.status_code == 404 and page.status_code == 404
    assert await suppressed(started, acme) == {}


async def test_the_mailto_unsubscribe_is_handled_by_the_listener(
    started: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await started.tenant("acme")
    _, _, address = await sent_with_unsubscribe(started, acme, smtp_sink, "m@example.org")

    await mail(started, address, b"Subject: unsubscribe\r\n\r\n", sender="m@example.org")

    assert await suppressed(started, acme) == {"m@example.org": "unsubscribe"}


async def test_reputation_shows_the_rates_and_the_state_they_put_the_tenant_in(
    started: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await started.tenant("acme")
    first, verp = await sent(started, acme, smtp_sink, ["c@example.org"])
    assert (await started.client.get("/v1/analytics/reputation", headers=acme.auth)).json()[
        "state"
    ] == "ok"  # one message: under min_messages
    await sent(started, acme, smtp_sink, ["d@example.org"])

    await mail(
        started, f"fbl@{BOUNCE_DOMAIN}", sample("yahoo_arf_abuse.eml", "c@example.org", first, verp)
    )

    resp = await started.client.get("/v1/analytics/reputation", headers=acme.auth)
    assert resp.status_code == 200
    assert resp.json() == {
        "bounceRate": 0.0,
        "complaintRate": 0.5,
        "windowDays": 7,
        "state": "paused",
        "messages": 2,
        "bounces": 0,
        "complaints": 1,
    }
    await started.rt.services.health.refresh_gauges()
    metrics = (await started.client.get("/metrics")).text
    assert 'iep_tenant_complaint_rate{tenant="acme"} 0.5' in metrics
    assert 'iep_tenant_bounce_rate{tenant="acme"} 0.0' in metrics


async def test_the_tenant_page_shows_the_reputation(
    started: Appliance, smtp_sink: SmtpSink
) -> None:
    from iep_appliance.app import build_app
    from tests.integration.admin.conftest import signed_in
    from tests.integration.test_admin import admin_password

    acme = await started.tenant("acme")
    first, verp = await sent(started, acme, smtp_sink, ["c@example.org"])
    await sent(started, acme, smtp_sink, ["d@example.org"])
    await mail(
        started, f"fbl@{BOUNCE_DOMAIN}", sample("yahoo_arf_abuse.eml", "c@example.org", first, verp)
    )

    async for operator in signed_in(
        build_app(started.rt), "admin@example.com", admin_password(started)
    ):
        page = await operator.page(f"/admin/tenants/{acme.tenant_id}")
        assert page.status_code == 200
        assert "complaints 50.000 %" in page.text
        assert '<span class="badge failed">paused</span>' in page.text
