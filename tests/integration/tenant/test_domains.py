"""Allowed sender domains over the API: changes take effect on the next send (the cached
tenant rules are dropped), exact match only, tenant-scoped."""

from typing import Any

from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.problems import assert_problem


async def send_from(appliance: Appliance, who: TenantKey, sender: str) -> Any:
    body = message(**{"from": {"email": sender}})
    return await appliance.client.post("/v1/messages", json=body, headers=who.auth)


async def domains(appliance: Appliance, who: TenantKey) -> list[str]:
    resp = await appliance.client.get("/v1/domains", headers=who.auth)
    assert resp.status_code == 200, resp.text
    return [item["domain"] for item in resp.json()["data"]]


async def test_added_domain_is_allowed_on_the_next_send(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    assert_problem(await send_from(appliance, acme, "hi@example.net"), 403, "from.email")

    resp = await appliance.client.post(
        "/v1/domains", json={"domain": "Example.NET"}, headers=acme.auth
    )

    assert resp.status_code == 201, resp.text
    assert resp.json() == {
        "domain": "example.net",
        "verified": False,
        "createdAt": "2026-01-01T00:00:00.000Z",
    }
    assert await domains(appliance, acme) == ["example.com", "example.net"]
    assert (await send_from(appliance, acme, "hi@example.net")).status_code == 202


async def test_removed_domain_is_refused_on_the_next_send(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme", domains=("example.com", "example.net"))
    assert (await send_from(appliance, acme, "hi@example.net")).status_code == 202

    resp = await appliance.client.delete("/v1/domains/example.net", headers=acme.auth)

    assert resp.status_code == 204
    assert_problem(await send_from(appliance, acme, "hi@example.net"), 403, "from.email")
    assert_problem(await appliance.client.delete("/v1/domains/example.net", headers=acme.auth), 404)


async def test_a_subdomain_must_be_listed_itself(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    assert_problem(await send_from(appliance, acme, "hi@mail.example.com"), 403, "from.email")


async def test_bad_and_duplicate_domains_are_refused(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    bad = await appliance.client.post(
        "/v1/domains", json={"domain": "not a domain"}, headers=acme.auth
    )
    dup = await appliance.client.post(
        "/v1/domains", json={"domain": "example.com"}, headers=acme.auth
    )
    missing = await appliance.client.post("/v1/domains", json={}, headers=acme.auth)

    assert_problem(bad, 422, "domain")
    assert_problem(dup, 409)
    assert_problem(missing, 422, "domain")


async def test_domains_are_tenant_scoped_and_may_be_shared(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    globex = await appliance.tenant("globex", domains=("globex.example",))

    shared = await appliance.client.post(
        "/v1/domains", json={"domain": "globex.example"}, headers=acme.auth
    )
    assert shared.status_code == 201
    resp = await appliance.client.delete("/v1/domains/example.com", headers=globex.auth)

    assert_problem(resp, 404)
    assert await domains(appliance, globex) == ["globex.example"]
    assert await domains(appliance, acme) == ["example.com", "globex.example"]
