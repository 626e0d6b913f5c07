"""Tenant providers (DESIGN §10.4): `/v1/providers` CRUD with write-only credentials sealed at
rest, `POST /v1/providers/{id}/test` that really connects and names the failed step, routing a
tenant to its own providers with failover, and another tenant's provider id → 404.

Peers are real: a local SendGrid/Mailgun speaking their APIs, aiosmtpd with AUTH for SMTP.
"""

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from iep_appliance.services.tenant_providers import context
from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.fake_apis import FakeMailgun, FakeSendgrid
from tests.support.signed_events import SendgridSigner
from tests.support.waiting import wait_until


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


@pytest.fixture
def auth_smtp() -> Iterator[int]:
    """aiosmtpd requiring AUTH (user `u`, password `right`), without TLS on loopback."""

    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == b"u" and data.password == b"right"
        return AuthResult(success=ok, handled=False)

    port = _free_port()
    controller = Controller(
        _Sink(), hostname="127.0.0.1", port=port, authenticator=check,
        auth_require_tls=False, auth_required=False,
    )  # fmt: skip
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def sendgrid() -> Iterator[FakeSendgrid]:
    with FakeSendgrid(api_key="SG.tenant") as api:
        yield api


async def create(appliance: Appliance, who: TenantKey, body: dict[str, Any]) -> Any:
    return await appliance.client.post("/v1/providers", json=body, headers=who.auth)


def sendgrid_body(api: FakeSendgrid, key: str = "SG.tenant", name: str = "sg") -> dict:
    return {"name": name, "type": "sendgrid", "settings": {"endpointUrl": api.url},
            "credentials": {"apiKey": key}}  # fmt: skip


async def test_crud_credentials_write_only_and_sealed(
    appliance: Appliance, sendgrid: FakeSendgrid
) -> None:
    await appliance.start()
    acme = await appliance.tenant("acme")
    r = await create(appliance, acme, sendgrid_body(sendgrid))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["type"] == "sendgrid" and created["credentialsSet"] == ["apiKey"]
    assert created["settings"] == {"endpointUrl": sendgrid.url}
    assert "SG.tenant" not in r.text
    pid = created["id"]
    listed = await appliance.client.get("/v1/providers", headers=acme.auth)
    assert [p["id"] for p in listed.json()["data"]] == [pid] and "SG.tenant" not in listed.text
    raw = await appliance.rt.services.store.db.read(
        lambda c: c.execute("SELECT secret FROM tenant_providers").fetchone()[0]
    )
    assert b"SG.tenant" not in bytes(raw)
    opened = appliance.rt.services.secret_box.open(bytes(raw), context(acme.tenant_id, pid))
    assert b"SG.tenant" in opened
    r = await appliance.client.patch(f"/v1/providers/{pid}", json={"name": "sg2"},
                                     headers=acme.auth)  # fmt: skip
    assert r.status_code == 200 and r.json()["name"] == "sg2"
    assert r.json()["credentialsSet"] == ["apiKey"]  # kept when not replaced
    r = await appliance.client.delete(f"/v1/providers/{pid}", headers=acme.auth)
    assert r.status_code == 204
    r = await appliance.client.get(f"/v1/providers/{pid}", headers=acme.auth)
    assert r.status_code == 404


async def test_another_tenants_provider_is_404(
    appliance: Appliance, sendgrid: FakeSendgrid
) -> None:
    await appliance.start()
    acme, globex = await appliance.tenant("acme"), await appliance.tenant("globex")
    pid = (await create(appliance, acme, sendgrid_body(sendgrid))).json()["id"]
    c = appliance.client
    assert (await c.get(f"/v1/providers/{pid}", headers=globex.auth)).status_code == 404
    assert (await c.patch(f"/v1/providers/{pid}", json={"name": "x"},
                          headers=globex.auth)).status_code == 404  # fmt: skip
    assert (await c.post(f"/v1/providers/{pid}/test", headers=globex.auth)).status_code == 404
    assert (await c.delete(f"/v1/providers/{pid}", headers=globex.auth)).status_code == 404
    assert (await c.get("/v1/providers", headers=globex.auth)).json()["data"] == []
    r = await c.patch("/v1/tenant", json={"routing": {"primaryProvider": pid}},
                      headers=globex.auth)  # fmt: skip
    assert r.status_code == 422 and "routing" in r.text
    r = await c.patch("/v1/tenant", json={"routing": {"primaryProvider": pid}},
                      headers=acme.auth)  # fmt: skip
    assert r.status_code == 200, r.text


async def test_bad_bodies_name_the_field(appliance: Appliance) -> None:
    await appliance.start()
    acme = await appliance.tenant("acme")
    body = {"name": "x", "type": "sendgrid", "settings": {"colour": "red"}, "credentials": {}}
    r = await create(appliance, acme, body)
    assert r.status_code == 422, r.text
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"settings.colour", "credentials.apiKey"} <= fields
    r = await create(appliance, acme, {"name": "x", "type": "postal"})
    assert r.status_code in (400, 422) and "type" in r.text
    r = await create(appliance, acme, {"name": "m", "type": "mailgun",
                                       "settings": {"domain": "d.com", "region": "mars"},
                                       "credentials": {"apiKey": "k"}})  # fmt: skip
    assert r.status_code == 422 and "settings.region" in r.text
    assert (await appliance.client.get("/v1/providers", headers=acme.auth)).json()["data"] == []


async def test_test_endpoint_says_which_step_failed(
    appliance: Appliance, sendgrid: FakeSendgrid, auth_smtp: int
) -> None:
    await appliance.start()
    acme = await appliance.tenant("acme")
    c = appliance.client

    async def probe(body: dict[str, Any]) -> dict[str, Any]:
        pid = (await create(appliance, acme, body)).json()["id"]
        r = await c.post(f"/v1/providers/{pid}/test", headers=acme.auth)
        assert r.status_code == 200, r.text
        return r.json()

    assert (await probe(sendgrid_body(sendgrid, name="ok")))["ok"] is True
    bad = await probe(sendgrid_body(sendgrid, key="SG.wrong", name="bad"))
    assert bad["ok"] is False and bad["step"] == "auth" and "401" in bad["detail"]
    smtp = {"type": "smtp", "settings": {"host": "127.0.0.1", "port": auth_smtp,
                                         "username": "u", "timeoutSeconds": 5}}  # fmt: skip
    good = await probe({**smtp, "name": "relay", "credentials": {"password": "right"}})
    assert good == {"ok": True, "step": None, "detail": ""}
    wrong = await probe({**smtp, "name": "relay2", "credentials": {"password": "nope"}})
    assert wrong["step"] == "auth" and "535" in wrong["detail"]
    closed = {
        "type": "smtp",
        "name": "dead",
        "settings": {"host": "127.0.0.1", "port": _free_port(), "timeoutSeconds": 2},
    }
    assert (await probe(closed))["step"] == "connect"
    with FakeMailgun() as mg:
        body = {"name": "mg", "type": "mailgun", "credentials": {"apiKey": mg.api_key},
                "settings": {"domain": "other.example", "endpointUrl": mg.url}}  # fmt: skip
        result = await probe(body)
    assert result["step"] == "api" and "Domain not found" in result["detail"]


async def test_tenant_routes_to_its_own_providers_with_failover(
    appliance: Appliance, sendgrid: FakeSendgrid
) -> None:
    appliance.configure(
        breaker={"min_requests": 1, "error_rate": 0.5, "cooldown_seconds": 600},
        delivery={"retry_schedule": [600]},
    )
    await appliance.start()
    acme = await appliance.tenant("acme")
    dead = {"name": "dead", "type": "sendgrid", "credentials": {"apiKey": "SG.tenant"},
            "settings": {"endpointUrl": f"http://127.0.0.1:{_free_port()}"}}  # fmt: skip
    primary = (await create(appliance, acme, dead)).json()["id"]
    fallback = (await create(appliance, acme, sendgrid_body(sendgrid))).json()["id"]
    r = await appliance.client.patch(
        "/v1/tenant",
        json={"routing": {"primaryProvider": primary, "fallbackProvider": fallback}},
        headers=acme.auth,
    )
    assert r.status_code == 200, r.text
    c = appliance.client
    first = (await c.post("/v1/messages", json=message(), headers=acme.auth)).json()["messageId"]

    async def retried() -> bool:
        m = (await c.get(f"/v1/messages/{first}", headers=acme.auth)).json()
        return any(e["type"] == "retry_scheduled" for e in m["events"])

    await wait_until(retried, timeout=15, message="first send failed at the dead provider")
    second = (await c.post("/v1/messages", json=message(), headers=acme.auth)).json()["messageId"]

    async def sent() -> dict[str, Any] | None:
        m = (await c.get(f"/v1/messages/{second}", headers=acme.auth)).json()
        return m if m["status"] == "sent" else None

    final = await wait_until(sent, timeout=15, message="second message via the fallback")
    assert final["provider"] == fallback
    assert sendgrid.sent[-1]["custom_args"] == {"iep_message_id": second}


async def test_events_of_a_tenants_provider_come_to_webhooks_type_id(
    appliance: Appliance, sendgrid: FakeSendgrid
) -> None:
    await appliance.start()
    acme, globex = await appliance.tenant("acme"), await appliance.tenant("globex")
    signer = SendgridSigner()
    body = sendgrid_body(sendgrid)
    body["settings"]["webhookPublicKey"] = signer.public_key
    pid = (await create(appliance, acme, body)).json()["id"]
    c = appliance.client
    r = await c.patch("/v1/tenant", json={"routing": {"primaryProvider": pid}}, headers=acme.auth)
    assert r.status_code == 200, r.text
    mine = (await c.post("/v1/messages", json=message(), headers=acme.auth)).json()["messageId"]
    theirs = (await c.post("/v1/messages", json=message(), headers=globex.auth)).json()

    async def sent() -> bool:
        m = (await c.get(f"/v1/messages/{mine}", headers=acme.auth)).json()
        return m["status"] == "sent"

    await wait_until(sent, timeout=15, message="sent through the tenant's sendgrid")
    events = [
        {"email": "ada@example.org", "event": "delivered", "sg_event_id": "e1",
         "iep_message_id": mine},
        {"email": "ada@example.org", "event": "spamreport", "sg_event_id": "e2",
         "iep_message_id": theirs["messageId"]},  # another tenant's message: matches nothing
    ]  # fmt: skip
    raw = json.dumps(events).encode()
    r = await c.post(f"/webhooks/sendgrid/{pid}", content=raw, headers=signer.headers(raw))
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 2, "duplicates": 0, "unmatched": 1, "applied": 1}
    m = (await c.get(f"/v1/messages/{mine}", headers=acme.auth)).json()
    assert m["status"] == "delivered"
    assert (await c.get("/v1/suppressions", headers=globex.auth)).json()["data"] == []
    # The tenant's provider is reached by its id only, not as the operator's /webhooks/sendgrid.
    r = await c.post("/webhooks/sendgrid", content=raw, headers=signer.headers(raw))
    assert r.status_code == 404


async def test_a_tenants_provider_stays_routed_across_a_config_reload(
    appliance: Appliance, sendgrid: FakeSendgrid
) -> None:
    await appliance.start()
    acme = await appliance.tenant("acme")
    pid = (await create(appliance, acme, sendgrid_body(sendgrid))).json()["id"]
    r = await appliance.client.patch(
        "/v1/tenant", json={"routing": {"primaryProvider": pid}}, headers=acme.auth
    )
    assert r.status_code == 200, r.text
    engine = appliance.rt.services.delivery
    assert engine is not None
    built = engine.pool.providers[pid]
    cfg = appliance.rt.services.config
    engine.reconfigure(cfg.providers, cfg.routing, cfg.breaker)  # what a reload does

    assert engine.pool.providers[pid] is built  # the same object, its connections kept
    assert pid in engine.router.breakers
    c = appliance.client
    sent_id = (await c.post("/v1/messages", json=message(), headers=acme.auth)).json()["messageId"]

    async def sent() -> dict[str, Any] | None:
        m = (await c.get(f"/v1/messages/{sent_id}", headers=acme.auth)).json()
        return m if m["status"] == "sent" else None

    final = await wait_until(sent, timeout=15, message="sent through the tenant's provider")
    assert final["provider"] == pid
    assert sendgrid.sent[-1]["custom_args"] == {"iep_message_id": sent_id}

    assert (await c.delete(f"/v1/providers/{pid}", headers=acme.auth)).status_code == 204
    assert pid not in engine.pool.providers  # removed from routing, not kept by a reload
    engine.reconfigure(cfg.providers, cfg.routing, cfg.breaker)
    assert pid not in engine.pool.providers
