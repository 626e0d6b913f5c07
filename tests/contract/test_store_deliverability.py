"""Store conformance for the deliverability verbs: DKIM keys and DNS checks, for
every backend (the `store` fixture of conftest.py)."""

from iep_appliance.domain.sender_domains import DkimKeyRecord, DnsRecord, DomainCheck
from iep_appliance.store.base import Store

NOW = "2026-01-01T00:00:00.000Z"


def key(selector: str, state: str, sealed: bytes = b"sealed") -> DkimKeyRecord:
    return DkimKeyRecord(
        domain="example.com",
        selector=selector,
        algorithm="rsa",
        private_key=sealed,
        public_key=f"P-{selector}",
        state=state,
        created_at=NOW,
    )


async def test_only_one_first_key_per_domain(store: Store) -> None:
    assert await store.add_dkim_key(key("iep1", "active", b"one"), only_if_none=True)
    assert not await store.add_dkim_key(key("iep1", "active", b"two"), only_if_none=True)

    keys = await store.dkim_keys("example.com")
    assert [(k.selector, k.private_key) for k in keys] == [("iep1", b"one")]


async def test_activating_the_next_key_retires_the_active_one(store: Store) -> None:
    await store.add_dkim_key(key("iep1", "active"))
    await store.add_dkim_key(key("iep2", "next"))

    assert await store.activate_dkim_key("example.com", "iep2")
    assert not await store.activate_dkim_key("example.com", "iep2")  # no longer next

    states = {k.selector: k.state for k in await store.dkim_keys("example.com")}
    assert states == {"iep1": "retired", "iep2": "active"}
    assert [k.selector for k in await store.active_dkim_keys()] == ["iep2"]


async def test_a_rotation_replaces_only_a_retired_key_under_its_selector(
    store: Store,
) -> None:
    await store.add_dkim_key(key("iep1", "active", b"old"))
    assert not await store.add_dkim_key(key("iep1", "next", b"new"))  # active: kept

    assert (await store.dkim_keys("example.com"))[0].private_key == b"old"


async def test_keyless_domains_are_listed_domains_without_an_active_key(
    store: Store,
) -> None:
    await store.create_tenant("acme", "Acme", ["example.com", "example.org"])
    await store.add_dkim_key(key("iep1", "active"))

    assert await store.keyless_domains() == ["example.org"]


async def test_a_check_round_trips_and_due_domains_are_the_unchecked_or_old(
    store: Store,
) -> None:
    await store.create_tenant("acme", "Acme", ["example.com", "example.org"])
    check = DomainCheck(
        domain="example.com",
        status="verified",
        records=(DnsRecord(type="TXT", name="example.com", value="v=spf1", purpose="spf"),),
        verified_at=NOW,
        last_checked_at=NOW,
    )
    await store.save_domain_check(check)

    assert await store.domain_check("example.com") == check
    assert await store.domain_check("example.net") is None
    assert await store.domains_due_for_check(NOW, 10) == ["example.org"]
    assert await store.domains_due_for_check("2027-01-01T00:00:00.000Z", 10) == [
        "example.com",
        "example.org",
    ]


async def test_verifying_a_domain_makes_the_pending_entry_usable(store: Store) -> None:
    tenant = await store.create_tenant("acme", "Acme", [])
    assert await store.claim_domain(tenant.id, "example.net") == "added"
    assert "example.net" not in await store.allowed_domains(tenant.id)

    assert await store.mark_domain_verified("example.net") == [tenant.id]

    assert "example.net" in await store.allowed_domains(tenant.id)
    assert await store.listed_domain_status(tenant.id, "example.net") == "verified"
    assert await store.listed_domain_status(tenant.id, "example.org") is None
