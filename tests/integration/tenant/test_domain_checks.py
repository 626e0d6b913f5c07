"""Sender-domain DNS verification over the API (DESIGN §10.3), against a real DNS server on
127.0.0.1: per-record status, pending until verified, timeouts and SERVFAIL keep the status
and show why, another tenant's domain is 404, and a verified domain can send."""

from typing import Any

import pytest

from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.dns_server import DnsServer
from tests.support.problems import assert_problem


@pytest.fixture
async def started(appliance: Appliance, dns_server: DnsServer) -> Appliance:
    appliance.configure(
        dns={"nameservers": [dns_server.nameserver], "timeout_seconds": 1},
        inbound={"bounce_domain": "bounces.iep.test"},
        server={"public_url": "https://mail.iep.test"},
    )
    await appliance.start(deliver=False)
    return appliance


async def add(appliance: Appliance, who: TenantKey, domain: str) -> dict[str, Any]:
    resp = await appliance.client.post("/v1/domains", json={"domain": domain}, headers=who.auth)
    assert resp.status_code == 201, resp.text
    resp = await appliance.client.get(f"/v1/domains/{domain}", headers=who.auth)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def verify(appliance: Appliance, who: TenantKey, domain: str) -> dict[str, Any]:
    resp = await appliance.client.post(f"/v1/domains/{domain}/verify", headers=who.auth)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_a_new_domain_lists_its_records_and_is_pending(started: Appliance) -> None:
    acme = await started.tenant("acme")

    detail = await add(started, acme, "example.net")

    assert detail["status"] == "pending"
    assert detail["dkim"]["algorithm"] == "rsa" and detail["dkim"]["selector"] == "iep1"
    assert [(r["type"], r["name"], r["purpose"], r["status"]) for r in detail["records"]] == [
        ("TXT", "example.net", "spf", "pending"),
        ("TXT", "iep1._domainkey.example.net", "dkim", "pending"),
        ("TXT", "_dmarc.example.net", "dmarc", "pending"),
        ("MX", "bounces.iep.test", "return_path", "pending"),
    ]
    assert f"p={detail['dkim']['publicKey']}" in detail["records"][1]["value"]
    assert detail["records"][3]["value"] == "mail.iep.test"
    assert detail["verifiedAt"] is None and detail["lastCheckedAt"] is None


async def test_published_records_verify_the_domain_and_it_can_send(
    started: Appliance, dns_server: DnsServer
) -> None:
    acme = await started.tenant("acme")
    detail = await add(started, acme, "example.net")
    body = message(**{"from": {"email": "hi@example.net"}})
    assert_problem(
        await started.client.post("/v1/messages", json=body, headers=acme.auth), 403, "from.email"
    )

    dns_server.publish(detail["records"])
    checked = await verify(started, acme, "example.net")

    assert checked["status"] == "verified"
    assert {r["purpose"]: r["status"] for r in checked["records"]} == {
        "spf": "verified",
        "dkim": "verified",
        "dmarc": "verified",
        "return_path": "verified",
    }
    assert checked["verifiedAt"] == checked["lastCheckedAt"] is not None
    resp = await started.client.post("/v1/messages", json=body, headers=acme.auth)
    assert resp.status_code == 202, resp.text


async def test_a_missing_or_wrong_record_fails_the_domain_naming_it(
    started: Appliance, dns_server: DnsServer
) -> None:
    acme = await started.tenant("acme")
    detail = await add(started, acme, "example.net")
    dns_server.publish(detail["records"])
    dns_server.set("TXT", "iep1._domainkey.example.net", "v=DKIM1; k=rsa; p=AAAA")
    dns_server.set("TXT", "_dmarc.example.net")

    checked = await verify(started, acme, "example.net")

    assert checked["status"] == "failed"
    records = {r["purpose"]: r for r in checked["records"]}
    assert records["dkim"]["status"] == "mismatch"
    assert records["dkim"]["found"] == "v=DKIM1; k=rsa; p=AAAA"
    assert records["dmarc"]["status"] == "missing"
    assert "dkim mismatch" in checked["reason"] and "dmarc missing" in checked["reason"]
    body = message(**{"from": {"email": "hi@example.net"}})
    assert_problem(
        await started.client.post("/v1/messages", json=body, headers=acme.auth), 403, "from.email"
    )


@pytest.mark.parametrize(("how", "reason"), [("SERVFAIL", "SERVFAIL"), ("timeout", "timeout")])
async def test_a_dns_failure_keeps_the_status_and_says_why(
    started: Appliance, dns_server: DnsServer, how: str, reason: str
) -> None:
    acme = await started.tenant("acme")
    detail = await add(started, acme, "example.net")
    dns_server.publish(detail["records"])
    assert (await verify(started, acme, "example.net"))["status"] == "verified"

    dns_server.fail("_dmarc.example.net", how)
    checked = await verify(started, acme, "example.net")

    assert checked["status"] == "verified"
    assert reason in checked["reason"]
    dmarc = next(r for r in checked["records"] if r["purpose"] == "dmarc")
    assert dmarc["status"] == "error"


async def test_another_tenants_domain_is_404(started: Appliance) -> None:
    acme = await started.tenant("acme")
    globex = await started.tenant("globex", domains=("globex.example",))
    await add(started, acme, "example.net")

    for method, path in [
        ("GET", "/v1/domains/example.net"),
        ("POST", "/v1/domains/example.net/verify"),
        ("POST", "/v1/domains/example.net/dkim/rotate"),
        ("GET", "/v1/domains/not..a..domain"),
    ]:
        resp = await started.client.request(method, path, headers=globex.auth)
        assert_problem(resp, 404)


async def test_a_bad_rotation_algorithm_is_422_naming_it(started: Appliance) -> None:
    acme = await started.tenant("acme")

    resp = await started.client.post(
        "/v1/domains/example.com/dkim/rotate", json={"algorithm": "dsa"}, headers=acme.auth
    )

    assert_problem(resp, 422, "algorithm")
    keys = await started.rt.services.store.dkim_keys("example.com")
    assert [k.state for k in keys] == ["active"]
