"""Store conformance for the tenant-services verbs (suppressions, rate windows, tenant patch),
for every backend: the `store` fixture of conftest.py."""

import pytest

from iep_appliance.domain.models import RateLimits, Tenant, TenantSettings
from iep_appliance.domain.ratelimit import WindowCount
from iep_appliance.store.base import Store

MINUTE = "2026-01-01T00:01:00.000Z"
EARLIER = "2026-01-01T00:00:00.000Z"


@pytest.fixture
async def tenant(store: Store) -> Tenant:
    return await store.create_tenant("acme", "Acme", ["example.com"])


@pytest.fixture
async def other(store: Store) -> Tenant:
    return await store.create_tenant("globex", "Globex", ["example.com"])


async def test_added_suppressions_are_returned_and_existing_ones_kept(
    store: Store, tenant: Tenant
) -> None:
    first = await store.add_suppressions(tenant.id, ["a@example.org"], "complaint")

    again = await store.add_suppressions(tenant.id, ["a@example.org", "b@example.org"], "manual")

    assert [(s.email, s.reason) for s in first] == [("a@example.org", "complaint")]
    assert [(s.email, s.reason) for s in again] == [
        ("a@example.org", "complaint"),
        ("b@example.org", "manual"),
    ]
    assert await store.suppressed_among(tenant.id, ["A@example.org"]) == ["A@example.org"]


async def test_suppressions_page_in_address_order_with_a_substring_filter(
    store: Store, tenant: Tenant
) -> None:
    emails = ["c@x.example", "a@y.example", "b@x.example", "d%x@z.example"]
    await store.add_suppressions(tenant.id, emails, "manual")

    first = await store.list_suppressions(tenant.id, None, "", 2)
    rest = await store.list_suppressions(tenant.id, None, first[-1].email, 10)
    xs = await store.list_suppressions(tenant.id, "x.example", "", 10)
    percent = await store.list_suppressions(tenant.id, "%", "", 10)

    assert [s.email for s in first + rest] == sorted(emails)
    assert [s.email for s in xs] == ["b@x.example", "c@x.example"]
    assert [s.email for s in percent] == ["d%x@z.example"]


async def test_suppressions_belong_to_one_tenant(
    store: Store, tenant: Tenant, other: Tenant
) -> None:
    await store.add_suppressions(other.id, ["a@example.org"], "manual")

    assert await store.list_suppressions(tenant.id, None, "", 10) == []
    assert await store.remove_suppression(tenant.id, "a@example.org") is False
    assert await store.remove_suppression(other.id, "a@example.org") is True
    assert await store.remove_suppression(other.id, "a@example.org") is False


async def test_rate_counts_add_up_never_below_zero_and_load_by_window_start(
    store: Store, tenant: Tenant, other: Tenant
) -> None:
    await store.add_rate_counts({(tenant.id, "minute", MINUTE): 3}, {})
    await store.add_rate_counts(
        {(tenant.id, "minute", MINUTE): 2, (other.id, "minute", MINUTE): -4}, {}
    )
    await store.add_rate_counts({(tenant.id, "minute", EARLIER): 9}, {})

    current = await store.load_rate_windows({"minute": MINUTE, "hour": EARLIER})

    found = sorted((c.tenant_id, c.window, c.count) for c in current)
    assert found == sorted([(tenant.id, "minute", 5), (other.id, "minute", 0)])


async def test_ended_rate_windows_are_purged(store: Store, tenant: Tenant) -> None:
    await store.add_rate_counts({(tenant.id, "minute", EARLIER): 9}, {})

    await store.add_rate_counts({(tenant.id, "minute", MINUTE): 1}, {"minute": MINUTE})

    assert await store.load_rate_windows({"minute": EARLIER}) == []
    assert await store.load_rate_windows({"minute": MINUTE}) == [
        WindowCount(tenant.id, "minute", 1)
    ]


async def test_patch_tenant_changes_name_and_settings_together(
    store: Store, tenant: Tenant
) -> None:
    settings = TenantSettings(rate_limits=RateLimits(max_per_minute=5))

    updated = await store.patch_tenant(tenant.id, "Acme Inc", settings)

    assert updated is not None
    assert (updated.name, updated.settings) == ("Acme Inc", settings)
    assert await store.get_tenant(tenant.id) == updated
    assert await store.patch_tenant("no-such-tenant", "X", settings) is None


async def test_domains_list_with_status_and_creation_time(store: Store, tenant: Tenant) -> None:
    await store.add_domain(tenant.id, "Example.NET")
    assert await store.claim_domain(tenant.id, "Pending.Example") == "added"

    found = await store.list_domains(tenant.id)

    assert [(d.domain, d.status) for d in found] == [
        ("example.com", "verified"),
        ("example.net", "verified"),
        ("pending.example", "pending"),
    ]
    assert await store.allowed_domains(tenant.id) == {"example.com", "example.net"}


async def test_claiming_a_domain_another_tenant_lists_writes_nothing(
    store: Store, tenant: Tenant
) -> None:
    other = await store.create_tenant("other", "Other", ["other.example"])

    assert await store.claim_domain(tenant.id, "other.example") == "taken"
    assert await store.claim_domain(tenant.id, "example.com") == "listed"
    assert await store.claim_domain(other.id, "example.com") == "taken"

    assert [d.domain for d in await store.list_domains(tenant.id)] == ["example.com"]
    assert [d.domain for d in await store.list_domains(other.id)] == ["other.example"]
