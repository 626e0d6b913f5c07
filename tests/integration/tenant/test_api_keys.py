"""Self-service API keys: shown once, listed without secrets, revoked at once (cache
included), rotated with a grace period for the old key."""

from typing import Any

from tests.integration.tenant.conftest import Appliance, TenantKey
from tests.support.problems import assert_problem

KEY_FIELDS = {"id", "name", "prefix", "scopes", "sandbox", "expiresAt", "lastUsedAt", "createdAt"}


async def create(appliance: Appliance, who: TenantKey, **body: Any) -> Any:
    body = {"name": "ci", "scopes": ["send", "read"], **body}
    return await appliance.client.post("/v1/api-keys", json=body, headers=who.auth)


async def whoami(appliance: Appliance, key: str) -> int:
    """Status of an authenticated read with `key` (200 when it works)."""
    resp = await appliance.client.get("/v1/messages", headers={"x-api-key": key})
    return resp.status_code


async def test_created_key_is_shown_once_and_works(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    resp = await create(appliance, acme, name="deploy", expiresAt="2027-01-01T00:00:00Z")

    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert set(body) == KEY_FIELDS | {"key"}
    assert body["key"].startswith(f"iep_{body['prefix']}_")
    assert body["scopes"] == ["send", "read"]
    assert body["expiresAt"] == "2027-01-01T00:00:00.000Z"
    assert await whoami(appliance, body["key"]) == 200


async def test_list_shows_metadata_and_last_use_but_never_the_secret(
    appliance: Appliance,
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    created = (await create(appliance, acme)).json()
    await whoami(appliance, created["key"])

    resp = await appliance.client.get("/v1/api-keys", headers=acme.auth)

    assert resp.status_code == 200
    items = {item["id"]: item for item in resp.json()["data"]}
    assert resp.json()["nextCursor"] is None
    assert all(set(item) == KEY_FIELDS for item in items.values())
    assert items[created["id"]]["lastUsedAt"] is not None
    secret = created["key"].rsplit("_", 1)[1]
    assert secret not in resp.text
    assert "argon2" not in resp.text


async def test_revoked_key_is_refused_at_once_even_when_cached(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    created = (await create(appliance, acme)).json()
    assert await whoami(appliance, created["key"]) == 200  # now in the auth cache

    resp = await appliance.client.delete(f"/v1/api-keys/{created['id']}", headers=acme.auth)

    assert resp.status_code == 204
    assert await whoami(appliance, created["key"]) == 401
    listed = (await appliance.client.get("/v1/api-keys", headers=acme.auth)).json()["data"]
    assert created["id"] not in [item["id"] for item in listed]


async def test_rotated_key_old_one_works_until_the_grace_period_ends(
    appliance: Appliance,
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    old = (await create(appliance, acme)).json()
    assert await whoami(appliance, old["key"]) == 200

    resp = await appliance.client.post(
        f"/v1/api-keys/{old['id']}/rotate", json={"graceSeconds": 300}, headers=acme.auth
    )

    assert resp.status_code == 201, resp.text
    new = resp.json()
    assert new["id"] != old["id"] and new["key"] != old["key"]
    assert new["scopes"] == old["scopes"] and new["name"] == old["name"]
    assert await whoami(appliance, new["key"]) == 200
    assert await whoami(appliance, old["key"]) == 200
    appliance.clock.advance(299)
    assert await whoami(appliance, old["key"]) == 200
    appliance.clock.advance(2)
    assert await whoami(appliance, old["key"]) == 401
    assert await whoami(appliance, new["key"]) == 200


async def test_rotation_without_grace_stops_the_old_key_at_once(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    old = (await create(appliance, acme)).json()
    assert await whoami(appliance, old["key"]) == 200

    resp = await appliance.client.post(f"/v1/api-keys/{old['id']}/rotate", headers=acme.auth)

    assert resp.status_code == 201, resp.text
    assert await whoami(appliance, old["key"]) == 401
    assert await whoami(appliance, resp.json()["key"]) == 200


async def test_a_send_key_cannot_manage_keys(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    sender = await appliance.key(acme, ("send",))
    target = (await create(appliance, acme)).json()

    assert_problem(await create(appliance, sender), 403)
    assert_problem(await appliance.client.get("/v1/api-keys", headers=sender.auth), 403)
    assert_problem(
        await appliance.client.delete(f"/v1/api-keys/{target['id']}", headers=sender.auth), 403
    )
    assert await whoami(appliance, target["key"]) == 200


async def test_another_tenants_key_is_404_and_untouched(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme, globex = await appliance.tenant("acme"), await appliance.tenant("globex")
    theirs = (await create(appliance, globex)).json()

    deleted = await appliance.client.delete(f"/v1/api-keys/{theirs['id']}", headers=acme.auth)
    rotated = await appliance.client.post(
        f"/v1/api-keys/{theirs['id']}/rotate", json={"graceSeconds": 0}, headers=acme.auth
    )
    listed = await appliance.client.get("/v1/api-keys", headers=acme.auth)

    assert_problem(deleted, 404)
    assert_problem(rotated, 404)
    assert theirs["id"] not in listed.text
    assert await whoami(appliance, theirs["key"]) == 200


async def test_bad_key_requests_name_the_field(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    assert_problem(await create(appliance, acme, scopes=["send", "root"]), 422, "scopes")
    assert_problem(await create(appliance, acme, scopes=[]), 422, "scopes")
    assert_problem(
        await create(appliance, acme, expiresAt="2020-01-01T00:00:00Z"), 422, "expiresAt"
    )
    assert_problem(await create(appliance, acme, expiresAt="soon"), 422, "expiresAt")
    assert_problem(await create(appliance, acme, sandbox="yes"), 422, "sandbox")
    target = (await create(appliance, acme)).json()
    rotate = await appliance.client.post(
        f"/v1/api-keys/{target['id']}/rotate", json={"graceSeconds": -1}, headers=acme.auth
    )
    assert_problem(rotate, 422, "graceSeconds")


async def test_sandbox_key_is_created_with_the_test_prefix(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    body = (await create(appliance, acme, sandbox=True)).json()

    assert body["sandbox"] is True
    assert body["key"].startswith("iep_test_")
    assert await whoami(appliance, body["key"]) == 200


async def sandbox_admin(appliance: Appliance, owner: TenantKey) -> TenantKey:
    """A sandbox key that was given `admin` by name (the operator may)."""
    created = await appliance.rt.services.keys.create(
        owner.tenant_id, ["send", "read", "admin"], "sandbox-admin", sandbox=True
    )
    return TenantKey(owner.tenant_id, owner.slug, created.key)


async def test_sandbox_key_gets_send_and_read_by_default(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    resp = await appliance.client.post(
        "/v1/api-keys", json={"name": "ci", "sandbox": True}, headers=acme.auth
    )

    assert resp.status_code == 201, resp.text
    assert resp.json()["scopes"] == ["send", "read"]
    live = await appliance.client.post("/v1/api-keys", json={"name": "x"}, headers=acme.auth)
    assert live.json()["scopes"] == ["send"]
    assert live.json()["sandbox"] is False


async def test_sandbox_key_cannot_mint_a_live_key(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    sandbox = await sandbox_admin(appliance, acme)

    refused = await create(appliance, sandbox, sandbox=False, scopes=["send"])
    inherited = await create(appliance, sandbox, scopes=["send"])

    body = assert_problem(refused, 403, "sandbox")
    assert body["title"] == "Not permitted"
    assert inherited.status_code == 201, inherited.text
    assert inherited.json()["sandbox"] is True
    assert inherited.json()["key"].startswith("iep_test_")
    listed = (await appliance.client.get("/v1/api-keys", headers=acme.auth)).json()["data"]
    assert sorted(k["sandbox"] for k in listed) == [False, True, True]  # nothing live was made


async def test_a_key_cannot_grant_scopes_it_lacks(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    admin_only = await appliance.key(acme, ("admin",))

    resp = await create(appliance, admin_only, scopes=["send", "admin"])

    body = assert_problem(resp, 403, "scopes")
    assert "send" in body["errors"][0]["message"]
    assert (await create(appliance, admin_only, scopes=["admin"])).status_code == 201


async def test_rotation_keeps_sandbox_and_a_sandbox_key_cannot_rotate_a_live_one(
    appliance: Appliance,
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    sandbox = await sandbox_admin(appliance, acme)
    own = (await create(appliance, sandbox)).json()
    live = (await create(appliance, acme)).json()

    rotated = await appliance.client.post(f"/v1/api-keys/{own['id']}/rotate", headers=sandbox.auth)
    refused = await appliance.client.post(f"/v1/api-keys/{live['id']}/rotate", headers=sandbox.auth)
    revoke = await appliance.client.delete(f"/v1/api-keys/{live['id']}", headers=sandbox.auth)

    assert rotated.status_code == 201, rotated.text
    assert rotated.json()["sandbox"] is True
    assert rotated.json()["key"].startswith("iep_test_")
    assert_problem(refused, 403, "sandbox")
    assert_problem(revoke, 403, "sandbox")
    assert await whoami(appliance, live["key"]) == 200


async def test_sandbox_key_cannot_make_the_tenant_live_or_reroute_it(
    appliance: Appliance,
) -> None:
    appliance.configure(
        providers={"outbox": {"type": "outbox"}, "relay": {"type": "smtp", "port": 2525}}
    )
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    sandbox = await sandbox_admin(appliance, acme)

    both = await appliance.client.patch(
        "/v1/tenant",
        json={"sandbox": True, "routing": {"primaryProvider": "relay"}},
        headers=sandbox.auth,
    )
    unchanged = await appliance.client.patch(
        "/v1/tenant", json={"sandbox": False, "name": "Acme Ltd"}, headers=sandbox.auth
    )

    assert_problem(both, 403, "sandbox", "routing")
    assert unchanged.status_code == 200, unchanged.text  # same value, other fields: allowed
    tenant = (await appliance.client.get("/v1/tenant", headers=acme.auth)).json()
    assert (tenant["sandbox"], tenant["routing"]["primaryProvider"]) == (False, None)
    assert tenant["name"] == "Acme Ltd"
