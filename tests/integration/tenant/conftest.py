"""An in-process appliance per test: a Runtime on a real SQLite file under tmp_path, the
Litestar app over it, and helpers to make tenants and keys.

The client is `httpx.AsyncClient` over `httpx.ASGITransport`, which runs the app on the test's
own event loop. Litestar's `AsyncTestClient` runs each request through a blocking portal on
another loop while the test loop (where the Runtime's writer, scheduler and senders live)
is frozen, which can deadlock a request waiting on a group commit of that loop.

    async def test_x(appliance: Appliance) -> None:
        await appliance.start()
        acme = await appliance.tenant("acme")
        resp = await appliance.client.post("/v1/messages", json=message(), headers=acme.auth)

`appliance.restart()` stops the Runtime and starts a new one on the same database file.
"""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from iep_appliance.app import build_app
from iep_appliance.clock import Clock, FakeClock
from iep_appliance.config import Config, parse
from iep_appliance.runtime import Runtime
from iep_appliance.services.tenants import create_tenant


class TenantKey(msgspec.Struct, frozen=True):
    tenant_id: str
    slug: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"x-api-key": self.key}


def message(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "to": ["ada@example.org"],
        "from": {"email": "noreply@example.com", "name": "Product"},
        "subject": "Hello {{name}}",
        "htmlBody": "<p>Hello {{name}}</p>",
        "variables": {"name": "Ada"},
    }
    body.update(overrides)
    return body


class Appliance:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.sections: dict[str, Any] = {
            "storage": {"path": "data/iep.db", "attachments_dir": "data/attachments"},
            "delivery": {"concurrency": 4},
            "logging": {"access_log": True},
        }
        self.clock: Clock = FakeClock()
        self.runtime: Runtime | None = None
        self._client: httpx.AsyncClient | None = None
        self.admin: TenantKey | None = None

    def configure(self, **sections: dict[str, Any]) -> "Appliance":
        """Merge TOML sections (as dicts) into the config; call before start()."""
        for name, value in sections.items():
            merged = dict(self.sections.get(name, {}))
            merged.update(value)
            self.sections[name] = merged
        return self

    @property
    def config(self) -> Config:
        return parse(self.sections, self.tmp_path)

    @property
    def rt(self) -> Runtime:
        assert self.runtime is not None, "call start() first"
        return self.runtime

    @property
    def client(self) -> httpx.AsyncClient:
        assert self._client is not None, "call start() first"
        return self._client

    async def start(self, deliver: bool = True) -> "Appliance":
        self.runtime = Runtime(self.config, self.clock, deliver=deliver)
        await self.runtime.start()
        if self.runtime.first_start is not None:
            tenant = await self.runtime.services.store.get_tenant_by_slug("default")
            assert tenant is not None
            self.admin = TenantKey(tenant.id, "default", self.runtime.first_start.key)
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(self.runtime)),
            base_url="http://testserver",
        )
        await self._client.__aenter__()
        return self

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.__aexit__(None, None, None)
            self._client = None
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None

    async def restart(self) -> None:
        deliver = self.rt.deliver
        await self.stop()
        await self.start(deliver=deliver)

    async def tenant(
        self,
        slug: str,
        domains: tuple[str, ...] = ("example.com",),
        scopes: tuple[str, ...] = ("send", "read", "admin"),
    ) -> TenantKey:
        """A new tenant with an API key of `scopes`."""
        tenant = await create_tenant(self.rt.services.store, slug, slug.title(), list(domains))
        created = await self.rt.services.keys.create(tenant.id, list(scopes), name=f"{slug}-key")
        return TenantKey(tenant.id, slug, created.key)

    async def key(self, owner: TenantKey, scopes: tuple[str, ...]) -> TenantKey:
        created = await self.rt.services.keys.create(owner.tenant_id, list(scopes), name="extra")
        return TenantKey(owner.tenant_id, owner.slug, created.key)


@pytest.fixture
async def appliance(tmp_path: Path) -> AsyncIterator[Appliance]:
    """An unstarted Appliance (configure, then `await appliance.start()`); stopped after."""
    app = Appliance(tmp_path)
    try:
        yield app
    finally:
        await app.stop()
