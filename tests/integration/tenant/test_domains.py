"""Allowed sender domains over the API: changes take effect on the next send (the cached
tenant rules are dropped), exact match only, tenant-scoped. A domain a tenant adds is
`pending` until verified and another tenant's is refused (DESIGN §4.1); the operator's
(CLI, dashboard, first start) are usable at once and may be shared."""

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


async def test_added_domain_is_pending_and_refused_in_from(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    assert_problem(await send_from(appliance, acme, "hi@example.net"), 403, "from.email")

    resp = await appliance.client.post(
        "/v1/domains", json={"domain": "Example.NET"}, headers=acme.auth
    )

    assert resp.status_code == 201, resp.text
    assert resp.json() == {
        "domain": "example.net",
        "status": "pending",
        "verified": False,
        "createdAt": "2026-01-01T00:00:00.000Z",
    }
    assert await domains(appliance, acme) == ["example.com", "example.net"]
    listed = (await appliance.client.get("/v1/domains", headers=acme.auth)).json()["data"]
    assert {d["domain"]: d["status"] for d in listed} == {
        "example.com": "verified",
        "example.net": "pending",
    }
    body = assert_problem(await send_from(appliance, acme, "hi@example.net"), 403, "from.email")
    assert "pending verification" in body["detail"]
    assert "pending verification" in body["errors"][0]["message"]
    assert (await send_from(appliance, acme, "hi@example.com")).status_code == 202


async def test_pending_domain_is_refused_in_a_batch_too(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    await appliance.client.post("/v1/domains", json={"domain": "example.net"}, headers=acme.auth)
    body = message(**{"from": {"email": "hi@example.net"}})
    del body["to"]
    body["recipients"] = [{"to": ["ada@example.org"]}]

    resp = await appliance.client.post("/v1/messages/batch", json=body, headers=acme.auth)

    problem = assert_problem(resp, 403, "from.email")
    assert "pending verification" in problem["detail"]


async def test_operator_assigned_domains_are_usable_at_once(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme", domains=("acme.example",))
    await appliance.rt.services.domains.add(
        acme.tenant_id, "mail.acme.example"
    )  # the dashboard's way

    assert (await send_from(appliance, acme, "hi@acme.example")).status_code == 202
    assert (await send_from(appliance, acme, "hi@mail.acme.example")).status_code == 202
    listed = (await appliance.client.get("/v1/domains", headers=acme.auth)).json()["data"]
    assert [d["status"] for d in listed] == ["verified", "verified"]


async def test_first_start_domain_is_verified(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    assert appliance.admin is not None

    listed = (await appliance.client.get("/v1/domains", headers=appliance.admin.auth)).json()

    assert [(d["domain"], d["status"]) for d in listed["data"]] == [("example.com", "verified")]
    sent = await send_from(appliance, appliance.admin, "noreply@example.com")
    assert sent.status_code == 202, sent.text


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


async def test_another_tenants_domain_is_a_conflict_and_not_listed(
    appliance: Appliance,
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme", domains=("acme.example",))
    globex = await appliance.tenant("globex", domains=("globex.example",))

    taken = await appliance.client.post(
        "/v1/domains", json={"domain": "Globex.Example"}, headers=acme.auth
    )

    assert_problem(taken, 409)
    assert await domains(appliance, acme) == ["acme.example"]
    assert_problem(await send_from(appliance, acme, "ceo@globex.example"), 403, "from.email")
    # a domain one tenant merely requested (pending) is not free for another either
    await appliance.client.post("/v1/domains", json={"domain": "new.example"}, headers=acme.auth)
    again = await appliance.client.post(
        "/v1/domains", json={"domain": "new.example"}, headers=globex.auth
    )
    assert_problem(again, 409)
    assert await domains(appliance, globex) == ["globex.example"]


async def test_domains_are_tenant_scoped_and_the_operator_may_share_one(
    appliance: Appliance,
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    globex = await appliance.tenant("globex", domains=("globex.example",))
    await appliance.rt.services.domains.add(
        acme.tenant_id, "globex.example"
    )  # the operator shares it

    resp = await appliance.client.delete("/v1/domains/example.com", headers=globex.auth)

    assert_problem(resp, 404)
    assert await domains(appliance, globex) == ["globex.example"]
    assert await domains(appliance, acme) == ["example.com", "globex.example"]
    assert (await send_from(appliance, acme, "hi@globex.example")).status_code == 202
