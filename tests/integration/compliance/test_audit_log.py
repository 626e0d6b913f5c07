"""The audit log: API mutations recorded by one middleware with actor, action,
target and client address; filters and bad ranges; append-only in the store; retention."""

import sqlite3
from datetime import timedelta

import pytest

from iep_appliance.clock import FakeClock
from iep_appliance.domain.audit import AuditActor, AuditTarget
from tests.integration.compliance.conftest import Appliance
from tests.support.problems import assert_problem


async def audit(appliance: Appliance, auth: dict[str, str], **params: str) -> list[dict]:
    resp = await appliance.client.get("/v1/audit-logs", params=params, headers=auth)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


async def test_key_mutations_are_recorded_with_actor_target_and_ip(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    created = await appliance.client.post(
        "/v1/api-keys", json={"name": "ci", "scopes": ["send"]}, headers=acme.auth
    )
    key_id = created.json()["id"]
    await appliance.client.delete(f"/v1/api-keys/{key_id}", headers=acme.auth)
    await appliance.client.post("/v1/suppressions", json={"emails": ["x@y.org"]}, headers=acme.auth)
    refused = await appliance.client.delete("/v1/api-keys/nope", headers=acme.auth)
    assert refused.status_code == 404

    entries = await audit(appliance, acme.auth)

    actions = [e["action"] for e in entries]
    assert actions[:2] == ["api_key.revoked", "api_key.created"] or "suppression.added" in actions
    by_action = {e["action"]: e for e in entries}
    made = by_action["api_key.created"]
    assert made["target"] == {"type": "apiKey", "id": key_id}
    assert made["actor"]["type"] == "apiKey"
    assert made["ip"] == "127.0.0.1"
    assert made["details"]["status"] == 201
    assert made["details"]["fields"] == ["name", "scopes"]
    assert by_action["api_key.revoked"]["target"]["id"] == key_id
    assert len([a for a in actions if a == "api_key.revoked"]) == 1  # the 404 left no entry
    assert "x@y.org" not in str(entries)  # addresses are never stored as they are
    # another tenant sees none of it
    other = await appliance.tenant("other")
    assert await audit(appliance, other.auth) == []


async def test_filters_pagination_and_bad_ranges(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    for n in range(3):
        await appliance.client.post("/v1/api-keys", json={"name": f"k{n}"}, headers=acme.auth)
    await appliance.client.patch("/v1/tenant", json={"name": "Acme Inc"}, headers=acme.auth)

    assert len(await audit(appliance, acme.auth, action="api_key.created")) == 3
    assert len(await audit(appliance, acme.auth, action="api_key.*")) == 3
    assert [e["action"] for e in await audit(appliance, acme.auth, action="tenant.")] == [
        "tenant.settings_updated"
    ]
    assert len(await audit(appliance, acme.auth, actor="apiKey")) == 4
    assert await audit(appliance, acme.auth, actor="cli") == []
    first = await appliance.client.get("/v1/audit-logs?limit=2", headers=acme.auth)
    page = first.json()
    assert len(page["data"]) == 2 and page["nextCursor"]
    rest = await appliance.client.get(
        f"/v1/audit-logs?limit=2&cursor={page['nextCursor']}", headers=acme.auth
    )
    ids = [e["id"] for e in page["data"] + rest.json()["data"]]
    assert len(set(ids)) == 4
    future = await audit(appliance, acme.auth, **{"from": "2999-01-01T00:00:00Z"})
    assert future == []

    bad = await appliance.client.get("/v1/audit-logs?from=yesterday", headers=acme.auth)
    assert_problem(bad, 400, "from")
    backwards = await appliance.client.get(
        "/v1/audit-logs?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", headers=acme.auth
    )
    assert_problem(backwards, 400, "to")
    cursor = await appliance.client.get("/v1/audit-logs?cursor=%%%", headers=acme.auth)
    assert_problem(cursor, 400, "cursor")
    reader = await appliance.key(acme, ("read",))
    assert (await appliance.client.get("/v1/audit-logs", headers=reader.auth)).status_code == 403


async def test_store_refuses_update_and_delete_outside_retention(appliance: Appliance) -> None:
    assert isinstance(appliance.clock, FakeClock)
    appliance.configure(storage={"audit_retention_days": 30})
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    old = await appliance.rt.services.audit.record(
        acme.tenant_id, AuditActor("system"), "test.old", AuditTarget("thing", "1")
    )
    assert old is not None
    appliance.clock.advance(timedelta(days=31).total_seconds())
    await appliance.rt.services.audit.record(
        acme.tenant_id, AuditActor("system"), "test.new", AuditTarget("thing", "2")
    )
    conn = sqlite3.connect(appliance.rt.services.store.db.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit_log SET action = 'x'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit_log")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit_log WHERE action = 'test.old'")
    finally:
        conn.rollback()
        conn.close()

    assert await appliance.rt.services.audit.purge() == 1

    left = [e.action for e in await appliance.rt.services.audit.query(_all(acme.tenant_id))]
    assert left == ["test.new"]


def _all(tenant_id: str):  # type: ignore[no-untyped-def]
    from iep_appliance.domain.audit import AuditQuery

    return AuditQuery(tenant_id=tenant_id, limit=100)
