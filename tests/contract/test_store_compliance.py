"""Store conformance for every backend: the audit log (append, filters, tenant
scope, newest-first pages, only the retention purge deletes), key IP allowlists, GDPR export
and erase (tenant-scoped, suppression kept as the hash the suppression check matches)."""

from datetime import timedelta
from typing import Any

import pytest

from iep_appliance.clock import FakeClock
from iep_appliance.domain import ids
from iep_appliance.domain.audit import AuditActor, AuditEntry, AuditQuery, AuditTarget
from iep_appliance.domain.gdpr import GdprRequest, suppression_hash
from iep_appliance.domain.models import ApiKey
from iep_appliance.store.base import Compaction, Store
from tests.contract.test_store import accept


def entry(clock: FakeClock, tenant_id: str | None, action: str, actor: str = "k1") -> AuditEntry:
    return AuditEntry(
        id=clock.new_id(),
        at=ids.iso(clock.now()),
        tenant_id=tenant_id,
        actor=AuditActor("apiKey", actor, actor),
        action=action,
        target=AuditTarget("apiKey", "x"),
        ip="127.0.0.1",
        details={"status": 201},
    )


async def test_audit_entries_page_newest_first_filtered_and_tenant_scoped(
    store: Store, clock: FakeClock
) -> None:
    for n, action in enumerate(["api_key.created", "webhook.created", "api_key.revoked"]):
        await store.append_audit([entry(clock, "t1", action, actor=f"k{n}")])
        clock.advance(1)
    await store.append_audit([entry(clock, "t2", "api_key.created"), entry(clock, None, "x.y")])

    page = await store.list_audit(AuditQuery(tenant_id="t1", limit=2))
    assert [e.action for e in page] == ["api_key.revoked", "webhook.created"]
    assert page[0].details == {"status": 201} and page[0].seq > page[1].seq
    rest = await store.list_audit(AuditQuery(tenant_id="t1", limit=2, before_seq=page[-1].seq))
    assert [e.action for e in rest] == ["api_key.created"]
    prefixed = await store.list_audit(AuditQuery(tenant_id="t1", action="api_key.*"))
    assert {e.action for e in prefixed} == {"api_key.created", "api_key.revoked"}
    assert [e.actor.id for e in await store.list_audit(AuditQuery(tenant_id="t1", actor="k1"))] == [
        "k1"
    ]
    assert len(await store.list_audit(AuditQuery())) == 5  # the dashboard: every tenant
    since = ids.iso(clock.now() - timedelta(seconds=1.5))
    recent = await store.list_audit(AuditQuery(tenant_id="t1", since=since))
    assert [e.action for e in recent] == ["api_key.revoked"]


async def test_only_the_retention_purge_deletes_audit_entries(
    store: Store, clock: FakeClock
) -> None:
    await store.append_audit([entry(clock, "t1", "old")])
    clock.advance(3600)
    await store.append_audit([entry(clock, "t1", "new")])
    cut = ids.iso(clock.now() - timedelta(seconds=60))

    assert await store.purge_audit(cut, 100) == 1
    assert [e.action for e in await store.list_audit(AuditQuery(tenant_id="t1"))] == ["new"]
    assert await store.purge_audit(cut, 100) == 0


async def test_the_audit_log_refuses_update_and_delete_outside_the_purge(
    store: Store, clock: FakeClock
) -> None:
    """The store's own triggers (SQLite) / plpgsql triggers (PostgreSQL) keep the log
    append-only: not even a statement of the store itself changes or deletes an entry."""
    await store.append_audit([entry(clock, "t1", "old")])
    clock.advance(3600)
    await store.append_audit([entry(clock, "t1", "new")])
    db: Any = store.db  # type: ignore[attr-defined]
    statements = [
        "UPDATE audit_log SET action = 'x'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE action = 'old'",
    ]
    for sql in statements:
        with pytest.raises(Exception, match="append-only"):
            await db.write(lambda c, sql=sql: c.execute(sql))
    # the gate opened to a cutoff lets only older entries go
    cut = ids.iso(clock.now() - timedelta(seconds=60))
    with pytest.raises(Exception, match="append-only"):
        await db.write(
            lambda c: (
                c.execute("UPDATE audit_purge_gate SET purge_before = ? WHERE id = 1", (cut,)),
                c.execute("DELETE FROM audit_log WHERE action = 'new'"),
            )
        )
    found = await store.list_audit(AuditQuery(tenant_id="t1"))
    assert [(e.action, e.target.id) for e in found] == [("new", "x"), ("old", "x")]


async def test_a_key_ip_allowlist_is_stored_and_tenant_scoped(
    store: Store, clock: FakeClock
) -> None:
    tenant = await store.create_tenant("acme", "Acme", ["acme.test"])
    key = ApiKey(
        id="k1", tenant_id=tenant.id, name="", prefix="abcdefgh", key_hash="h",
        scopes=("send",), sandbox=False, active=True, expires_at=None, last_used_at=None,
        created_at=ids.iso(clock.now()), ip_allowlist=("10.0.0.0/8",),
    )  # fmt: skip
    await store.create_key(key)
    assert (await store.key_by_prefix("abcdefgh")).ip_allowlist == ("10.0.0.0/8",)  # type: ignore[union-attr]
    changed = await store.set_key_ip_allowlist(tenant.id, "k1", ["2001:db8::/32"])
    assert changed is not None and changed.ip_allowlist == ("2001:db8::/32",)
    assert await store.set_key_ip_allowlist("other-tenant", "k1", []) is None


async def test_gdpr_erase_is_tenant_scoped_and_keeps_the_suppression_hashed(
    store: Store, clock: FakeClock
) -> None:
    acme = await store.create_tenant("acme", "Acme", ["acme.test"])
    beta = await store.create_tenant("beta", "Beta", ["beta.test"])
    mine = await accept(store, acme, clock, to=("Eve@Example.org",))
    other = await accept(store, acme, clock, to=("bob@example.org",))
    theirs = await accept(store, beta, clock, to=("eve@example.org",))
    await store.add_suppressions(acme.id, ["eve@example.org"], "manual")

    found = await store.gdpr_export(acme.id, "eve@example.org")
    assert [m["id"] for m in found["messages"]] == [mine]
    assert [s["email"] for s in found["suppressions"]] == ["eve@example.org"]

    hashed = suppression_hash(acme.id, "eve@example.org")
    result = await store.gdpr_erase(acme.id, "eve@example.org", hashed)

    assert result.counts["messages"] == 1
    assert await store.get_message(acme.id, mine) is None
    assert await store.get_message(acme.id, other) is not None
    assert await store.get_message(beta.id, theirs) is not None
    assert await store.suppressed_among(acme.id, ["EVE@example.org"]) == ["EVE@example.org"]
    assert await store.suppressed_among(beta.id, ["eve@example.org"]) == []
    listed = await store.list_suppressions(acme.id, None, "", 10)
    assert "eve@example.org" not in str(listed)
    assert (await store.gdpr_export(acme.id, "eve@example.org"))["messages"] == []
    if isinstance(store, Compaction):  # a file-based backend rewrites its file afterwards
        await store.compact()

    request = GdprRequest(
        id="r1", tenant_id=acme.id, kind="erase", email_hash=hashed, state="done",
        requested_at=ids.iso(clock.now()), counts=result.counts,
    )  # fmt: skip
    await store.save_gdpr_request(request)
    assert await store.list_gdpr_requests(acme.id, 10) == [request]
    assert await store.list_gdpr_requests(beta.id, 10) == []
