"""The dashboard's Tenants page and users page over a real Runtime (the `Appliance` of
tests/integration/tenant/conftest.py): an appliance that delivers to the outbox and may call
webhooks on 127.0.0.1, an admin and a viewer signed in with their own clients, and helpers to
post the page's forms.

    async def test_x(appliance: Appliance, admin: Operator) -> None:
        page = await admin.page(f"/admin/tenants/{tenant_id}")
        resp = await admin.post(f"/admin/tenants/{tenant_id}/keys", {"name": "ci"})
"""

import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from iep_appliance.app import build_app
from iep_appliance.services.tenants import create_admin_user
from tests.integration.tenant.conftest import Appliance
from tests.integration.test_admin import admin_password, csrf_of, login

VIEWER = ("viewer@example.com", "viewer-pass-1")


class Operator:
    """A signed-in browser: its own cookie jar, and the CSRF token of the last page read."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.csrf = ""

    async def page(self, path: str, **kwargs: Any) -> httpx.Response:
        resp = await self.client.get(path, **kwargs)
        if resp.status_code == 200 and 'name="csrf_token"' in resp.text:
            self.csrf = csrf_of(resp.text)
        return resp

    async def post(
        self,
        path: str,
        data: Mapping[str, Any] | None = None,
        *,
        htmx: bool = False,
        csrf: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        body = dict(data or {})
        if csrf:
            body["csrf_token"] = self.csrf
        headers = {"HX-Request": "true"} if htmx else {}
        return await self.client.post(
            path, data=body, headers=headers, follow_redirects=False, **kwargs
        )


@contextlib.asynccontextmanager
async def relay_appliance(tmp_path: Path, relay_port: int) -> AsyncIterator[Appliance]:
    """An appliance delivering to the outbox, with a `relay` provider on `relay_port` that a
    tenant can route to; one attempt, so a refused send fails (and is dead-lettered) at once."""
    app = Appliance(tmp_path)
    app.configure(
        providers={
            "outbox": {"type": "outbox"},
            "relay": {"type": "smtp", "host": "127.0.0.1", "port": relay_port},
        },
        routing={"default_provider": "outbox"},
        delivery={"retry_schedule": []},
    )
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
async def appliance(tmp_path: Path) -> AsyncIterator[Appliance]:
    app = Appliance(tmp_path)
    app.configure(
        providers={"outbox": {"type": "outbox"}},
        routing={"default_provider": "outbox"},
        webhooks={"allow_private_networks": True, "retry_schedule": [1]},
    )
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
def web(appliance: Appliance) -> Litestar:
    """One app over the appliance's Runtime for every operator of a test (they share the
    dashboard's session cache, as browsers of one server do)."""
    return build_app(appliance.rt)


async def signed_in(web: Litestar, email: str, password: str) -> AsyncIterator[Operator]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="http://testserver"
    ) as client:
        resp = await login(client, email, password)
        assert resp.status_code == 303, resp.text
        yield Operator(client)


@pytest.fixture
async def admin(appliance: Appliance, web: Litestar) -> AsyncIterator[Operator]:
    async for op in signed_in(web, "admin@example.com", admin_password(appliance)):
        yield op


@pytest.fixture
async def viewer(appliance: Appliance, web: Litestar) -> AsyncIterator[Operator]:
    await create_admin_user(appliance.rt.services.store, *VIEWER, "viewer")
    async for op in signed_in(web, *VIEWER):
        yield op
