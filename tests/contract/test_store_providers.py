"""Store conformance for the provider verbs (store/protocols/providers.py): provider events
kept once per (provider, event id), one-time webhook tokens, tenant providers (another tenant's
id finds nothing, names unique per tenant), and the reseal of every secret at rest."""

import pytest

from iep_appliance.clock import FakeClock
from iep_appliance.domain import ids
from iep_appliance.domain.errors import Conflict
from iep_appliance.domain.sender_domains import DkimKeyRecord
from iep_appliance.domain.tenant_providers import TenantProviderRecord
from iep_appliance.domain.webhooks import EndpointChange, WebhookEndpoint
from iep_appliance.store.base import Store
from tests.support.endpoints import endpoint_record

NOW = "2026-01-01T00:00:00.000Z"


def record(pid: str, tenant: str = "t1", name: str = "sg") -> TenantProviderRecord:
    return TenantProviderRecord(
        id=pid,
        tenant_id=tenant,
        name=name,
        type="sendgrid",
        settings={"endpointUrl": "http://x"},
        secret=b"sealed-" + pid.encode(),
        created_at=NOW,
        updated_at=NOW,
    )


def endpoint(eid: str, tenant: str = "t1", secret: str | None = None) -> WebhookEndpoint:
    return endpoint_record(eid, tenant, secret=secret or f"sealed:{eid}")


async def test_provider_event_is_kept_once(store: Store) -> None:
    args = ("ses", "ev-1", "delivered", None, None, "ses-id", b'{"a":1}', [])
    assert await store.record_provider_event(*args) == 0
    assert await store.record_provider_event(*args) is None
    assert await store.record_provider_event("other", *args[1:]) == 0  # per provider


async def test_old_provider_events_and_tokens_are_purged_in_steps(
    store: Store, clock: FakeClock
) -> None:
    for n in range(3):
        await store.record_provider_event("ses", f"old-{n}", "other", None, None, None, b"{}", [])
    assert await store.use_webhook_token("mg", "old-token")
    clock.advance(3600)
    cut = ids.iso(clock.now())
    await store.record_provider_event("ses", "new", "other", None, None, None, b"{}", [])
    assert await store.use_webhook_token("mg", "new-token")

    assert await store.purge_provider_events(cut, cut, 2) == 3  # 2 events (the limit), 1 token
    assert await store.purge_provider_events(cut, cut, 2) == 1
    assert await store.purge_provider_events(cut, cut, 2) == 0
    # What was purged is new again; what is inside the window is still refused.
    assert (
        await store.record_provider_event("ses", "old-0", "other", None, None, None, b"{}", []) == 0
    )
    assert (
        await store.record_provider_event("ses", "new", "other", None, None, None, b"{}", [])
        is None
    )
    assert await store.use_webhook_token("mg", "old-token")
    assert not await store.use_webhook_token("mg", "new-token")


async def test_webhook_token_is_used_once(store: Store) -> None:
    assert await store.use_webhook_token("mg", "tok")
    assert not await store.use_webhook_token("mg", "tok")
    assert await store.use_webhook_token("mg2", "tok")


async def test_tenant_providers_are_the_tenants_own(store: Store) -> None:
    await store.create_tenant_provider(record("p1"))
    await store.create_tenant_provider(record("p2", tenant="t2"))
    with pytest.raises(Conflict):
        await store.create_tenant_provider(record("p3"))  # same name, same tenant
    assert [r.id for r in await store.list_tenant_providers("t1")] == ["p1"]
    assert await store.get_tenant_provider("t2", "p1") is None
    got = await store.get_tenant_provider("t1", "p1")
    assert got is not None and got.settings == {"endpointUrl": "http://x"}
    assert not await store.update_tenant_provider(record("p1", tenant="t2", name="x"))
    assert await store.update_tenant_provider(record("p1", name="renamed"))
    assert not await store.delete_tenant_provider("t2", "p1")
    assert await store.delete_tenant_provider("t1", "p1")
    assert [r.id for r in await store.all_tenant_providers()] == ["p2"]


async def test_reseal_rewrites_every_secret(store: Store) -> None:
    await store.create_tenant_provider(record("p1"))
    key = DkimKeyRecord(domain="example.com", selector="iep1", algorithm="rsa",
                        private_key=b"dkim-sealed", public_key="P", state="active",
                        created_at=NOW)  # fmt: skip
    await store.add_dkim_key(key)

    await store.create_webhook(endpoint("w1"))
    seen: list[str] = []

    def reseal(context: str, sealed: bytes) -> bytes:
        seen.append(context)
        return b"new:" + sealed

    def reseal_text(context: str, stored: str) -> str:
        seen.append(context)
        return "new:" + stored

    assert await store.reseal_secrets(reseal, reseal_text) == 3
    assert sorted(seen) == ["dkim:example.com:iep1", "provider:t1:p1", "webhook:t1:w1"]
    got = await store.get_tenant_provider("t1", "p1")
    assert got is not None and got.secret == b"new:sealed-p1"
    assert (await store.dkim_keys("example.com"))[0].private_key == b"new:dkim-sealed"
    hook = await store.get_webhook("t1", "w1")
    assert hook is not None and hook.secret == "new:sealed:w1" and hook.old_secret is None


async def test_reseal_webhook_secrets_rewrites_only_what_changes(store: Store) -> None:
    await store.create_webhook(endpoint("w1"))
    await store.create_webhook(endpoint("w2", secret="whsec_plain"))
    rotated = EndpointChange(updated_at=NOW, new_secret="sealed:w1b", old_secret_until=NOW)
    assert await store.update_webhook("t1", "w1", rotated) is not None
    other = await store.get_webhook("t2", "w1")
    assert other is None  # another tenant's id finds nothing

    def seal_plain(context: str, stored: str) -> str:
        return stored if stored.startswith("sealed:") else f"sealed:{context}"

    assert await store.reseal_webhook_secrets(seal_plain) == 1
    w1, w2 = await store.get_webhook("t1", "w1"), await store.get_webhook("t1", "w2")
    assert w1 is not None and (w1.secret, w1.old_secret) == ("sealed:w1b", "sealed:w1")
    assert w2 is not None and w2.secret == "sealed:webhook:t1:w2"
    assert await store.reseal_webhook_secrets(seal_plain) == 0
