"""A message goes out through each HTTP-API provider (SES = moto's server, SendGrid and Mailgun
= local servers speaking their APIs) and comes back `delivered`, `bounced` or `complained` from
that provider's signed event (DESIGN §10.4), through the same effects as an inbound bounce:
suppressions, the message status, events and webhooks. And the bad input: unsigned
or wrongly signed events (401, nothing recorded), a certificate URL off the pattern, replayed
events (recorded once), a replayed Mailgun token, events for unknown messages (kept, matched to
nothing), bodies that are not JSON.
"""

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from iep_appliance.app import build_app
from iep_appliance.config import parse
from iep_appliance.runtime import Runtime
from tests.support.fake_apis import FakeMailgun, FakeSendgrid, FileServer
from tests.support.moto_ses import ACCESS_KEY, SECRET_KEY, MotoSes
from tests.support.signed_events import (
    SendgridSigner,
    SnsSigner,
    mailgun_signature,
    ses_event,
)
from tests.support.waiting import wait_until

MAILGUN_KEY = "mg-signing-key"


@dataclass
class Env:
    rt: Runtime
    client: httpx.AsyncClient
    moto: MotoSes
    sendgrid: FakeSendgrid
    mailgun: FakeMailgun
    certs: FileServer
    sns: SnsSigner
    sg: SendgridSigner

    @property
    def cert_url(self) -> str:
        return self.certs.url + "/cert.pem"

    async def send_via(self, provider: str, to: str = "ada@example.org") -> str:
        r = await self.client.patch("/v1/tenant", json={"routing": {"primaryProvider": provider}})
        assert r.status_code == 200, r.text
        body = {"to": [to], "from": "noreply@example.com", "subject": "Hi", "textBody": "Hello"}
        r = await self.client.post("/v1/messages", json=body)
        assert r.status_code == 202, r.text
        message_id = r.json()["messageId"]

        async def sent() -> dict[str, Any] | None:
            m = (await self.client.get(f"/v1/messages/{message_id}")).json()
            return m if m["status"] in ("sent", "failed") else None

        final = await wait_until(sent, timeout=15, message=f"{message_id} sent")
        assert final["status"] == "sent" and final["provider"] == provider, final
        return message_id

    async def message(self, message_id: str) -> dict[str, Any]:
        return (await self.client.get(f"/v1/messages/{message_id}")).json()

    async def suppressions(self) -> dict[str, str]:
        r = await self.client.get("/v1/suppressions")
        return {s["email"]: s["reason"] for s in r.json()["data"]}

    async def sns_post(self, doc: dict[str, Any], path: str = "/webhooks/ses") -> httpx.Response:
        return await self.client.post(path, content=json.dumps(doc).encode(),
                                      headers={"Content-Type": "text/plain"})  # fmt: skip

    async def sendgrid_post(self, events: list[dict[str, Any]], **kw: Any) -> httpx.Response:
        body = json.dumps(events).encode()
        headers = self.sg.headers(body)
        headers.update(kw.get("headers", {}))
        return await self.client.post("/webhooks/sendgrid", content=body, headers=headers)

    async def mailgun_post(self, data: dict[str, Any], signature: dict) -> httpx.Response:
        doc = {"signature": signature, "event-data": data}
        return await self.client.post("/webhooks/mailgun", json=doc)

    async def stored_events(self) -> list[tuple]:
        return await self.rt.services.store.db.read(
            lambda c: c.execute(
                "SELECT provider, event_id, type, message_id FROM provider_events"
            ).fetchall()
        )


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoSes]:
    with MotoSes() as ses:
        ses.verify("noreply@example.com")
        yield ses


@pytest.fixture
async def env(tmp_path: Path, moto: MotoSes) -> AsyncIterator[Env]:
    sns, sg = SnsSigner(), SendgridSigner()
    with FakeSendgrid() as sendgrid, FakeMailgun() as mailgun, FileServer() as certs:
        certs.files["/cert.pem"] = sns.cert_pem
        pattern = "^" + re.escape(certs.url) + "/"
        cfg = parse(
            {
                "server": {"port": 0},
                "storage": {"path": "data/iep.db", "attachments_dir": "data/att"},
                "delivery": {"retry_schedule": [1], "concurrency": 2},
                "providers": {
                    "outbox": {"type": "outbox"},
                    "ses": {
                        "type": "ses",
                        "endpoint_url": moto.url,
                        "sns_cert_url_pattern": pattern,
                    },
                    "sendgrid": {
                        "type": "sendgrid",
                        "endpoint_url": sendgrid.url,
                        "webhook_public_key": sg.public_key,
                    },
                    "mailgun": {
                        "type": "mailgun",
                        "endpoint_url": mailgun.url,
                        "domain": mailgun.domain,
                    },
                },
                "routing": {"default_provider": "outbox"},
                "logging": {"access_log": False},
            },
            tmp_path,
            {
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "SENDGRID_API_KEY": sendgrid.api_key,
                "MAILGUN_API_KEY": mailgun.api_key,
                "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
            },
        )
        rt = Runtime(cfg)
        await rt.start()
        try:
            assert rt.first_start is not None
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=build_app(rt)),
                base_url="http://testserver",
                headers={"x-api-key": rt.first_start.key},
            ) as client:
                yield Env(rt, client, moto, sendgrid, mailgun, certs, sns, sg)
        finally:
            await rt.stop()


# ---- through each provider and back ------------------------------------------------------


async def test_ses_delivered_then_complained(env: Env) -> None:
    message_id = await env.send_via("ses")
    sent = await env.message(message_id)
    provider_id = next(e for e in sent["events"] if e["type"] == "sent")["data"]
    assert provider_id["providerMessageId"] in {m["id"] for m in env.moto.sent()}
    doc = env.sns.notification(ses_event("Delivery", message_id, "ada@example.org"), env.cert_url)
    r = await env.sns_post(doc)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 1, "duplicates": 0, "unmatched": 0, "applied": 1}
    assert (await env.message(message_id))["status"] == "delivered"
    complaint = ses_event("Complaint", message_id, "ada@example.org")
    r = await env.sns_post(env.sns.notification(complaint, env.cert_url, version="1"))
    assert r.status_code == 200, r.text
    assert (await env.suppressions()) == {"ada@example.org": "complaint"}
    types = [e["type"] for e in (await env.message(message_id))["events"]]
    assert "delivered" in types and "complained" in types


async def test_ses_replay_is_recorded_once(env: Env) -> None:
    message_id = await env.send_via("ses")
    doc = env.sns.notification(ses_event("Delivery", message_id, "ada@example.org"), env.cert_url)
    assert (await env.sns_post(doc)).json()["applied"] == 1
    again = await env.sns_post(doc)
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    types = [e["type"] for e in (await env.message(message_id))["events"]]
    assert types.count("delivered") == 1
    assert len(await env.stored_events()) == 1


async def test_events_past_their_retention_are_purged_by_housekeeping(env: Env) -> None:
    message_id = await env.send_via("ses")
    old = env.sns.notification(ses_event("Delivery", message_id, "ada@example.org"), env.cert_url)
    assert (await env.sns_post(old)).json()["applied"] == 1
    await env.rt.services.store.db.write(
        lambda c: c.execute("UPDATE provider_events SET received_at = '2020-01-01T00:00:00.000Z'")
    )
    new = env.sns.notification(ses_event("Complaint", message_id, "ada@example.org"), env.cert_url)
    assert (await env.sns_post(new)).json()["applied"] >= 1

    await env.rt.services.housekeeping.purge_provider_events()  # 90 days by default

    assert [e[2] for e in await env.stored_events()] == ["complained"]


async def test_sendgrid_bounced_hard(env: Env) -> None:
    message_id = await env.send_via("sendgrid", "bob@example.org")
    assert env.sendgrid.sent[-1]["custom_args"] == {"iep_message_id": message_id}
    event = {"email": "bob@example.org", "event": "bounce", "sg_event_id": "sg-1",
             "sg_message_id": env.sendgrid.sent[-1]["_id"], "iep_message_id": message_id,
             "status": "5.1.1", "reason": "550 5.1.1 no such user", "type": "bounce"}  # fmt: skip
    r = await env.sendgrid_post([event])
    assert r.status_code == 200, r.text
    final = await env.message(message_id)
    assert final["status"] == "bounced"
    assert (await env.suppressions()) == {"bob@example.org": "hard_bounce"}


async def test_mailgun_delivered_and_token_replay_refused(env: Env) -> None:
    message_id = await env.send_via("mailgun", "cy@example.org")
    assert env.mailgun.sent[-1]["variables"] == {"iep_message_id": message_id}
    data = {"id": "mg-ev-1", "event": "delivered", "recipient": "cy@example.org",
            "user-variables": {"iep_message_id": message_id},
            "message": {"headers": {"message-id": env.mailgun.sent[-1]["id"]}}}  # fmt: skip
    signature = mailgun_signature(MAILGUN_KEY)
    r = await env.mailgun_post(data, signature)
    assert r.status_code == 200, r.text
    assert (await env.message(message_id))["status"] == "delivered"
    replay = await env.mailgun_post({**data, "id": "mg-ev-2", "event": "failed"}, signature)
    assert replay.status_code == 401 and "replayed" in replay.json()["detail"]
    assert (await env.message(message_id))["status"] == "delivered"
    assert [e[1] for e in await env.stored_events()] == ["mg-ev-1"]


async def test_mailgun_permanent_failure_bounces(env: Env) -> None:
    message_id = await env.send_via("mailgun", "dee@example.org")
    data = {"id": "mg-ev-9", "event": "failed", "severity": "permanent",
            "recipient": "dee@example.org", "user-variables": {"iep_message_id": message_id},
            "delivery-status": {"code": 550, "message": "5.1.1 mailbox unavailable"}}  # fmt: skip
    r = await env.mailgun_post(data, mailgun_signature(MAILGUN_KEY))
    assert r.status_code == 200, r.text
    assert (await env.message(message_id))["status"] == "bounced"
    assert (await env.suppressions())["dee@example.org"] == "hard_bounce"


# ---- bad input --------------------------------------------------------------------------


async def test_wrongly_signed_sns_is_401_and_nothing_recorded(env: Env) -> None:
    message_id = await env.send_via("ses")
    doc = env.sns.notification(ses_event("Bounce", message_id, "ada@example.org"), env.cert_url)
    tampered = {**doc, "Message": doc["Message"].replace("5.1.1", "5.1.2")}
    unsigned = {k: v for k, v in doc.items() if k != "Signature"}
    for bad in (tampered, unsigned):
        r = await env.sns_post(bad)
        assert r.status_code == 401, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (await env.message(message_id))["status"] == "sent"
    assert await env.stored_events() == [] and await env.suppressions() == {}


async def test_certificate_url_off_the_pattern_is_refused(env: Env) -> None:
    message_id = await env.send_via("ses")
    evil = FileServer({"/cert.pem": env.sns.cert_pem}).start()
    try:
        doc = env.sns.notification(
            ses_event("Delivery", message_id, "ada@example.org"), evil.url + "/cert.pem"
        )
        r = await env.sns_post(doc)
        assert r.status_code == 401 and "pattern" in r.json()["detail"]
        assert evil.requests == []  # never fetched
    finally:
        evil.stop()
    assert await env.stored_events() == []


async def test_subscription_confirmation_gets_the_subscribe_url(env: Env) -> None:
    doc = env.sns.subscription(env.certs.url + "/confirm?Token=abc", env.cert_url)
    env.certs.files["/confirm"] = b"<ConfirmSubscriptionResponse/>"
    r = await env.sns_post(doc)
    assert r.status_code == 200 and r.json() == {"confirmed": True}
    assert any(q.path == "/confirm?Token=abc" for q in env.certs.requests)
    forged = {**doc, "SubscribeURL": env.certs.url + "/confirm?Token=other"}
    assert (await env.sns_post(forged)).status_code == 401


async def test_event_for_an_unknown_message_is_kept_and_matches_nothing(env: Env) -> None:
    unknown = "01890000-0000-7000-8000-00000000dead"
    doc = env.sns.notification(ses_event("Bounce", unknown, "zed@example.org"), env.cert_url)
    r = await env.sns_post(doc)
    assert r.status_code == 200 and r.json()["unmatched"] == 1
    assert await env.stored_events() == [("ses", doc["MessageId"], "bounced", None)]
    assert await env.suppressions() == {}


async def test_wrong_sendgrid_signature_and_mailgun_hmac_are_401(env: Env) -> None:
    event = {"email": "x@example.org", "event": "delivered", "sg_event_id": "sg-x"}
    other = SendgridSigner()
    body = json.dumps([event]).encode()
    r = await env.client.post("/webhooks/sendgrid", content=body, headers=other.headers(body))
    assert r.status_code == 401
    r = await env.client.post("/webhooks/sendgrid", content=body,
                              headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 401
    bad = mailgun_signature("not-the-key")
    r = await env.mailgun_post({"id": "m1", "event": "delivered"}, bad)
    assert r.status_code == 401
    old = mailgun_signature(MAILGUN_KEY, timestamp=1_000_000_000)
    r = await env.mailgun_post({"id": "m2", "event": "delivered"}, old)
    assert r.status_code == 401 and "too old" in r.json()["detail"]
    assert await env.stored_events() == []


async def test_bodies_that_are_not_json_and_unknown_types(env: Env) -> None:
    r = await env.client.post("/webhooks/ses", content=b"<xml/>")
    assert r.status_code == 400 and "not JSON" in r.json()["detail"]
    r = await env.client.post("/webhooks/postmark", content=b"{}")
    assert r.status_code == 404
    r = await env.client.post("/webhooks/ses/nope", content=b"{}")
    assert r.status_code == 404
    doc = env.sns.notification({"x": 1}, env.cert_url)
    doc = env.sns.sign({**doc, "Message": "not json"})
    r = await env.sns_post(doc)
    assert r.status_code == 400 and "Message is not JSON" in r.json()["detail"]
