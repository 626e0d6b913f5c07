"""API keys with IP allowlists: v4 and v6 CIDRs, 403 naming the client address,
X-Forwarded-For only behind `[server] trusted_proxies`, bad CIDRs 422 naming the field."""

import httpx
import pytest

from iep_appliance.app import build_app
from tests.integration.compliance.conftest import Appliance, message
from tests.support.problems import assert_problem


def client_from(appliance: Appliance, address: str) -> httpx.AsyncClient:
    """A client whose requests come from `address` (the ASGI scope's peer)."""
    transport = httpx.ASGITransport(app=build_app(appliance.rt), client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def make_key(appliance: Appliance, auth: dict[str, str], cidrs: list[str]) -> dict:
    resp = await appliance.client.post(
        "/v1/api-keys",
        json={"name": "office", "scopes": ["send", "read"], "ipAllowlist": cidrs},
        headers=auth,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_key_works_inside_its_cidrs_and_is_refused_outside(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    key = await make_key(appliance, acme.auth, ["192.168.1.0/24", "2001:db8::/32"])
    assert key["ipAllowlist"] == ["192.168.1.0/24", "2001:db8::/32"]
    headers = {"x-api-key": key["key"]}

    async with client_from(appliance, "192.168.1.77") as inside:
        assert (await inside.get("/v1/messages", headers=headers)).status_code == 200
    async with client_from(appliance, "2001:db8:1::5") as inside6:
        assert (await inside6.get("/v1/messages", headers=headers)).status_code == 200
    async with client_from(appliance, "203.0.113.9") as outside:
        resp = await outside.get("/v1/messages", headers=headers)
        body = assert_problem(resp, 403)
        assert "203.0.113.9" in body["detail"]
        assert body["clientAddress"] == "203.0.113.9"
        # the fast send path authenticates on its own: refused the same way
        sent = await outside.post("/v1/messages", json=message(), headers=headers)
        assert assert_problem(sent, 403)["clientAddress"] == "203.0.113.9"
    listed = await appliance.client.get("/v1/api-keys", headers=acme.auth)
    shown = {k["id"]: k for k in listed.json()["data"]}
    assert shown[key["id"]]["ipAllowlist"] == ["192.168.1.0/24", "2001:db8::/32"]


async def test_forwarded_for_counts_only_behind_a_trusted_proxy(appliance: Appliance) -> None:
    appliance.configure(server={"trusted_proxies": ["10.0.0.0/8"]})
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    key = await make_key(appliance, acme.auth, ["198.51.100.0/24"])
    headers = {"x-api-key": key["key"], "x-forwarded-for": "198.51.100.20"}

    async with client_from(appliance, "10.1.2.3") as via_proxy:
        assert (await via_proxy.get("/v1/messages", headers=headers)).status_code == 200
        # a client-written hop left of the proxy's does not count
        spoof = {**headers, "x-forwarded-for": "198.51.100.20, 203.0.113.50"}
        resp = await via_proxy.get("/v1/messages", headers=spoof)
        assert assert_problem(resp, 403)["clientAddress"] == "203.0.113.50"
    async with client_from(appliance, "203.0.113.7") as direct:
        resp = await direct.get("/v1/messages", headers=headers)
        assert assert_problem(resp, 403)["clientAddress"] == "203.0.113.7"


async def test_allowlist_update_applies_at_once_and_bad_cidrs_are_422(
    appliance: Appliance,
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    key = await make_key(appliance, acme.auth, [])
    headers = {"x-api-key": key["key"]}
    assert (await appliance.client.get("/v1/messages", headers=headers)).status_code == 200

    bad = await appliance.client.patch(
        f"/v1/api-keys/{key['id']}",
        json={"ipAllowlist": ["10.0.0.0/8", "300.1.1.0/24", "10.0.0.1/8"]},
        headers=acme.auth,
    )
    assert_problem(bad, 422, "ipAllowlist[1]", "ipAllowlist[2]")
    still = await appliance.client.get("/v1/messages", headers=headers)
    assert still.status_code == 200  # nothing written by the refused change

    ok = await appliance.client.patch(
        f"/v1/api-keys/{key['id']}", json={"ipAllowlist": ["10.9.0.0/16"]}, headers=acme.auth
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["ipAllowlist"] == ["10.9.0.0/16"]
    refused = await appliance.client.get("/v1/messages", headers=headers)  # peer 127.0.0.1
    assert assert_problem(refused, 403)["clientAddress"] == "127.0.0.1"

    create_bad = await appliance.client.post(
        "/v1/api-keys", json={"ipAllowlist": ["not-a-cidr"]}, headers=acme.auth
    )
    assert_problem(create_bad, 422, "ipAllowlist[0]")
    other = await appliance.tenant("other")
    foreign = await appliance.client.patch(
        f"/v1/api-keys/{key['id']}", json={"ipAllowlist": []}, headers=other.auth
    )
    assert_problem(foreign, 404)


async def test_smtp_submission_applies_the_allowlist_to_the_smtp_peer(
    appliance: Appliance,
) -> None:
    import aiosmtplib

    from tests.support.procs import free_port

    port = free_port()
    appliance.configure(submission={"enabled": True, "port": port})
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    key = await make_key(appliance, acme.auth, ["10.0.0.0/8"])
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await smtp.connect()
    try:
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as refused:
            await smtp.login("acme", key["key"])
        assert refused.value.code == 535
        assert "127.0.0.1" in refused.value.message
    finally:
        smtp.close()
    await appliance.client.patch(
        f"/v1/api-keys/{key['id']}", json={"ipAllowlist": ["127.0.0.0/8"]}, headers=acme.auth
    )
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await smtp.connect()
    try:
        answer = await smtp.login("acme", key["key"])
        assert answer.code == 235
    finally:
        smtp.close()
