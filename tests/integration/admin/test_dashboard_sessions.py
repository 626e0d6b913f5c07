"""Operator sessions and the dashboard's response headers over a real Runtime: the cookie's
flags (SameSite=Strict, Secure behind TLS), login throttling per account and client address
together (and per address, with Retry-After), sessions that survive a restart (and end with
their operator), and the security headers on every kind of dashboard response."""

from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from iep_appliance.admin.auth import MAX_CLIENT_FAILURES, admin_state
from iep_appliance.app import build_app
from iep_appliance.services.tenants import create_admin_user
from tests.integration.admin.conftest import VIEWER
from tests.integration.tenant.conftest import Appliance
from tests.integration.test_admin import admin_password, csrf_of, login


def browser(web: Litestar, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web, client=(ip, 40000)),
        base_url="http://testserver",
    )


@pytest.fixture
async def from_ip(web: Litestar) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """A client per address, made on first use."""

    class Clients(dict[str, httpx.AsyncClient]):
        def __missing__(self, ip: str) -> httpx.AsyncClient:
            self[ip] = browser(web, ip)
            return self[ip]

    clients = Clients()
    try:
        yield clients
    finally:
        for client in clients.values():
            await client.aclose()


def session_cookie(resp: httpx.Response) -> str:
    return next(
        v for k, v in resp.headers.multi_items() if k == "set-cookie" and v.startswith("iep_admin=")
    )


async def test_behind_a_tls_proxy_the_session_cookie_is_secure_and_strict(
    appliance: Appliance, web: Litestar
) -> None:
    async with browser(web) as client:
        form = await client.get("/admin/login")
        data = {
            "email": "admin@example.com",
            "password": admin_password(appliance),
            "csrf_token": csrf_of(form.text),
        }
        headers = {"X-Forwarded-Proto": "https"}
        resp = await client.post("/admin/login", data=data, headers=headers)

    cookie = session_cookie(resp).lower()
    assert resp.status_code == 303
    assert "secure" in cookie and "samesite=strict" in cookie and "httponly" in cookie


async def test_failed_logins_from_one_address_lock_that_address_for_every_account(
    appliance: Appliance, from_ip: dict[str, httpx.AsyncClient]
) -> None:
    for n in range(MAX_CLIENT_FAILURES):
        resp = await login(from_ip["10.0.0.1"], f"nobody{n}@example.com", "wrong")
        assert resp.status_code == 401

    locked = await login(from_ip["10.0.0.1"], "admin@example.com", admin_password(appliance))
    elsewhere = await login(from_ip["10.0.0.2"], "admin@example.com", admin_password(appliance))

    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
    assert elsewhere.status_code == 303


async def test_five_wrong_passwords_lock_that_account_from_that_address_only(
    appliance: Appliance, from_ip: dict[str, httpx.AsyncClient]
) -> None:
    for _ in range(5):
        resp = await login(from_ip["10.0.1.1"], "admin@example.com", "wrong")
        assert resp.status_code == 401

    locked = await login(from_ip["10.0.1.1"], "admin@example.com", admin_password(appliance))
    elsewhere = await login(from_ip["10.0.1.2"], "admin@example.com", admin_password(appliance))

    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
    assert 0 < int(locked.headers["retry-after"]) <= 900
    assert elsewhere.status_code == 303  # the operator is not locked out by someone else


async def test_wrong_passwords_spread_over_addresses_lock_nobody_out(
    appliance: Appliance, from_ip: dict[str, httpx.AsyncClient]
) -> None:
    for n in range(5):
        resp = await login(from_ip[f"10.0.2.{n}"], "admin@example.com", "wrong")
        assert resp.status_code == 401

    resp = await login(from_ip["10.0.2.9"], "admin@example.com", admin_password(appliance))

    assert resp.status_code == 303


async def signed_in_cookie(appliance: Appliance, email: str, password: str) -> str:
    async with browser(build_app(appliance.rt)) as client:
        resp = await login(client, email, password)
        assert resp.status_code == 303, resp.text
        return client.cookies["iep_admin"]


async def overview_status(appliance: Appliance, cookie: str) -> int:
    async with browser(build_app(appliance.rt)) as client:
        client.cookies.set("iep_admin", cookie, path="/admin")
        return (await client.get("/admin/", follow_redirects=False)).status_code


async def test_a_session_survives_a_restart(appliance: Appliance) -> None:
    cookie = await signed_in_cookie(appliance, "admin@example.com", admin_password(appliance))

    await appliance.restart()

    assert await overview_status(appliance, cookie) == 200


async def test_the_database_keeps_only_a_hash_of_the_session_id(appliance: Appliance) -> None:
    cookie = await signed_in_cookie(appliance, "admin@example.com", admin_password(appliance))
    await appliance.stop()

    raw = (appliance.tmp_path / "data" / "iep.db").read_bytes()
    wal = appliance.tmp_path / "data" / "iep.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""

    assert cookie.encode() not in raw


async def test_a_removed_operator_is_signed_out_after_a_restart(appliance: Appliance) -> None:
    user_id = await create_admin_user(appliance.rt.services.store, *VIEWER, "viewer")
    cookie = await signed_in_cookie(appliance, *VIEWER)
    assert await appliance.rt.services.store.delete_admin_user(user_id)

    await appliance.restart()

    assert await overview_status(appliance, cookie) == 303


async def test_a_deleted_and_recreated_operator_does_not_get_old_sessions_back(
    appliance: Appliance,
) -> None:
    user_id = await create_admin_user(appliance.rt.services.store, *VIEWER, "viewer")
    cookie = await signed_in_cookie(appliance, *VIEWER)
    await appliance.restart()  # the session now lives only in the database

    # What deleting the user on /admin/users does: sign them out everywhere, then delete.
    await admin_state(build_app(appliance.rt)).sessions.end_all_of(VIEWER[0])
    assert await appliance.rt.services.store.delete_admin_user(user_id)
    await create_admin_user(appliance.rt.services.store, *VIEWER, "viewer")  # same email, same role

    assert await overview_status(appliance, cookie) == 303


async def test_signing_out_ends_the_session_for_good(appliance: Appliance) -> None:
    web = build_app(appliance.rt)
    async with browser(web) as client:
        assert (await login(client, "admin@example.com", admin_password(appliance))).is_redirect
        cookie = client.cookies["iep_admin"]
        page = await client.get("/admin/")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        await client.post("/admin/logout", data={"csrf_token": token})

    await appliance.restart()

    assert await overview_status(appliance, cookie) == 303


DASHBOARD_RESPONSES = (
    "/admin/login",
    "/admin/",
    "/admin/messages",
    "/admin/outbox",
    "/admin/queue",
    "/admin/tenants",
    "/admin/messages/nope",  # the 404 page
    "/admin/messages?from=bad",  # the 400 page
    "/admin/outbox/nope/eml",
)


@pytest.mark.parametrize("path", DASHBOARD_RESPONSES)
async def test_every_dashboard_response_carries_the_security_headers(
    appliance: Appliance, path: str
) -> None:
    async with browser(build_app(appliance.rt)) as client:
        await login(client, "admin@example.com", admin_password(appliance))
        resp = await client.get(path, follow_redirects=False)

    csp = resp.headers["content-security-policy"]
    directives = dict([*d.split(" ", 1), ""][:2] for d in (p.strip() for p in csp.split(";")) if d)
    assert "'unsafe-inline'" not in directives.get("script-src", directives["default-src"])
    assert directives["frame-ancestors"] == "'none'"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "same-origin"
    assert resp.headers["cache-control"] == "no-store"
