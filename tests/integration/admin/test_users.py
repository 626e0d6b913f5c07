"""/admin/users: dashboard users created with `iep admin-user create`'s service function,
roles changed (the user's sessions end), users deleted; never yourself, never the last admin."""

from litestar import Litestar

from iep_appliance.services.tenants import create_admin_user
from tests.integration.admin.conftest import VIEWER, Operator, signed_in
from tests.integration.tenant.conftest import Appliance


async def user_id(appliance: Appliance, email: str) -> str:
    found = await appliance.rt.services.store.admin_user_by_email(email)
    assert found is not None
    return found.id


async def test_an_admin_creates_a_user_who_can_sign_in(
    appliance: Appliance, admin: Operator, web: Litestar
) -> None:
    await admin.page("/admin/users")

    resp = await admin.post(
        "/admin/users", {"email": "Ops@Example.org", "role": "viewer", "password": "s3cret-pass"}
    )

    assert resp.status_code == 303
    assert "ops@example.org" in (await admin.page("/admin/users")).text
    async for ops in signed_in(web, "ops@example.org", "s3cret-pass"):
        page = await ops.page("/admin/users")
        assert page.status_code == 200 and "New user" not in page.text  # a viewer


async def test_a_bad_new_user_names_the_field(appliance: Appliance, admin: Operator) -> None:
    await admin.page("/admin/users")

    bad_email = await admin.post(
        "/admin/users", {"email": "nope", "role": "viewer", "password": "long-enough"}
    )
    short = await admin.post(
        "/admin/users", {"email": "a@example.org", "role": "viewer", "password": "short"}
    )
    taken = await admin.post(
        "/admin/users", {"email": "admin@example.com", "role": "admin", "password": "long-enough"}
    )

    assert bad_email.status_code == 422 and 'class="field-error"' in bad_email.text
    assert short.status_code == 422 and "at least 8 characters" in short.text
    assert taken.status_code == 409 and "already exists" in taken.text
    assert [u.email for u in await appliance.rt.services.store.list_admin_users()] == [
        "admin@example.com"
    ]


async def test_changing_a_role_ends_the_users_sessions(
    appliance: Appliance, admin: Operator, viewer: Operator
) -> None:
    await admin.page("/admin/users")
    assert (await viewer.page("/admin/users")).status_code == 200
    target = await user_id(appliance, VIEWER[0])

    resp = await admin.post(f"/admin/users/{target}/role", {"role": "admin"})

    assert resp.status_code == 303
    user = await appliance.rt.services.store.admin_user_by_email(VIEWER[0])
    assert user is not None and user.role == "admin"
    after = await viewer.page("/admin/users", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/admin/login")


async def test_a_user_is_deleted_and_signed_out(
    appliance: Appliance, admin: Operator, viewer: Operator
) -> None:
    await admin.page("/admin/users")
    await viewer.page("/admin/users")

    resp = await admin.post(f"/admin/users/{await user_id(appliance, VIEWER[0])}/delete")

    assert resp.status_code == 303
    assert await appliance.rt.services.store.admin_user_by_email(VIEWER[0]) is None
    after = await viewer.page("/admin/users", follow_redirects=False)
    assert after.status_code == 303


async def test_you_cannot_delete_yourself_or_change_your_own_role(
    appliance: Appliance, admin: Operator
) -> None:
    me = await user_id(appliance, "admin@example.com")
    await admin.page("/admin/users")

    deleted = await admin.post(f"/admin/users/{me}/delete")
    demoted = await admin.post(f"/admin/users/{me}/role", {"role": "viewer"})

    assert deleted.status_code == 409 and "cannot delete yourself" in deleted.text
    assert demoted.status_code == 409 and "own role" in demoted.text
    user = await appliance.rt.services.store.admin_user_by_email("admin@example.com")
    assert user is not None and user.role == "admin"


async def test_the_last_admin_cannot_be_removed_or_demoted(appliance: Appliance) -> None:
    from iep_appliance.domain.errors import Conflict

    store = appliance.rt.services.store
    me = await user_id(appliance, "admin@example.com")
    for attempt in (store.delete_admin_user(me), store.set_admin_user_role(me, "viewer")):
        try:
            await attempt
        except Conflict as exc:
            assert exc.extra == {"reason": "last_admin"}
        else:
            raise AssertionError("the last admin was removed")
    user = await store.admin_user_by_email("admin@example.com")
    assert user is not None and user.role == "admin"


async def test_with_a_second_admin_the_first_can_be_deleted(
    appliance: Appliance, admin: Operator, web: Litestar
) -> None:
    await create_admin_user(
        appliance.rt.services.store, "second@example.org", "second-pass", "admin"
    )
    first = await user_id(appliance, "admin@example.com")

    async for second in signed_in(web, "second@example.org", "second-pass"):
        await second.page("/admin/users")
        resp = await second.post(f"/admin/users/{first}/delete")

        assert resp.status_code == 303
    assert await appliance.rt.services.store.admin_user_by_email("admin@example.com") is None
    assert (await admin.page("/admin/users", follow_redirects=False)).status_code == 303
