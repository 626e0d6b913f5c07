"""Store conformance for the dashboard's operator verbs: dashboard users
(list, role, delete, never leaving no admin) and a tenant's active flag, for every backend."""

import pytest

from iep_appliance.clock import FakeClock
from iep_appliance.domain.errors import Conflict
from iep_appliance.store.base import Store
from tests.contract.test_store import accept


async def test_users_are_listed_by_address_and_their_role_changes(store: Store) -> None:
    b = await store.create_admin_user("b@example.org", "hash-b", "admin")
    a = await store.create_admin_user("a@example.org", "hash-a", "admin")

    changed = await store.set_admin_user_role(b.id, "viewer")

    assert [u.email for u in await store.list_admin_users()] == ["a@example.org", "b@example.org"]
    assert changed is not None and changed.role == "viewer"
    assert await store.get_admin_user(a.id) == a
    assert await store.set_admin_user_role("missing", "admin") is None


async def test_the_last_admin_is_neither_demoted_nor_deleted(store: Store) -> None:
    admin = await store.create_admin_user("a@example.org", "hash", "admin")
    viewer = await store.create_admin_user("v@example.org", "hash", "viewer")

    with pytest.raises(Conflict):
        await store.set_admin_user_role(admin.id, "viewer")
    with pytest.raises(Conflict):
        await store.delete_admin_user(admin.id)

    assert await store.delete_admin_user(viewer.id) is True
    assert await store.delete_admin_user(viewer.id) is False
    assert [u.role for u in await store.list_admin_users()] == ["admin"]


async def test_an_admin_goes_once_another_admin_exists(store: Store) -> None:
    first = await store.create_admin_user("a@example.org", "hash", "admin")
    await store.create_admin_user("b@example.org", "hash", "admin")

    assert await store.delete_admin_user(first.id) is True
    assert await store.admin_user_by_email("a@example.org") is None


async def test_a_tenant_is_deactivated_and_reactivated(store: Store) -> None:
    tenant = await store.create_tenant("acme", "Acme", ["example.com"])

    off = await store.set_tenant_active(tenant.id, False)
    on = await store.set_tenant_active(tenant.id, True)

    assert off is not None and not off.active
    assert on is not None and on.active
    assert await store.set_tenant_active("missing", False) is None


async def test_a_users_password_hash_is_replaced_and_a_missing_user_is_false(
    store: Store,
) -> None:
    user = await store.create_admin_user("a@example.org", "old-hash", "admin")

    changed = await store.set_admin_user_password(user.id, "new-hash")

    found = await store.admin_user_by_email("a@example.org")
    assert changed is True and found is not None and found.password_hash == "new-hash"
    assert await store.set_admin_user_password("missing", "x") is False


async def test_messages_in_a_status_are_counted_for_one_tenant_or_all(store: Store) -> None:
    clock = FakeClock()
    acme = await store.create_tenant("acme", "Acme", ["example.com"])
    beta = await store.create_tenant("beta", "Beta", ["example.com"])
    for tenant in (acme, beta, beta):
        await accept(store, tenant, clock)

    assert await store.dashboard_status_count("queued", None) == 3
    assert await store.dashboard_status_count("queued", beta.id) == 2
    assert await store.dashboard_status_count("sent", None) == 0
    assert await store.dashboard_status_count("queued", "no-such-tenant") == 0
