"""Tenant providers (DESIGN §10.4): `/v1/providers` CRUD and `POST /v1/providers/{id}/test`.

Credentials are write-only: sealed as JSON under the master key (AES-256-GCM, context
`provider:<tenant>:<id>`) and never returned. Another tenant's id is 404. `build` (given by the
wiring) turns a record and its opened credentials into a provider; `on_change(tenant, id,
provider or None)` puts it in (or takes it out of) the delivery engine's routing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.errors import NotFound
from iep_appliance.domain.tenant_providers import (
    ProbeView,
    ProviderCreate,
    ProviderPatch,
    ProviderView,
    TenantProviderRecord,
    validate_create,
    validate_patch,
    view,
)
from iep_appliance.services.secret_box import SecretBox
from iep_appliance.store.protocols.providers import TenantProviderStore

Build = Callable[[TenantProviderRecord, dict[str, str]], Any]
OnChange = Callable[[str, str, Any], Awaitable[None]]


def context(tenant_id: str, provider_id: str) -> str:
    return f"provider:{tenant_id}:{provider_id}"


class TenantProvidersService:
    def __init__(
        self,
        store: TenantProviderStore,
        clock: Clock,
        box: SecretBox,
        build: Build,
        on_change: OnChange | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.box = box
        self.build = build
        self.on_change = on_change

    def credentials(self, record: TenantProviderRecord) -> dict[str, str]:
        opened = self.box.open(record.secret, context(record.tenant_id, record.id))
        return msgspec.json.decode(opened, type=dict[str, str])

    def _seal(self, tenant_id: str, provider_id: str, credentials: dict[str, str]) -> bytes:
        return self.box.seal(msgspec.json.encode(credentials), context(tenant_id, provider_id))

    def _view(self, record: TenantProviderRecord) -> ProviderView:
        names = [k for k, v in self.credentials(record).items() if v]
        return view(record, names)

    async def _record(self, tenant_id: str, provider_id: str) -> TenantProviderRecord:
        found = await self.store.get_tenant_provider(tenant_id, provider_id)
        if found is None:
            raise NotFound("Provider not found")
        return found

    async def list(self, tenant_id: str) -> list[ProviderView]:
        return [self._view(r) for r in await self.store.list_tenant_providers(tenant_id)]

    async def get(self, tenant_id: str, provider_id: str) -> ProviderView:
        return self._view(await self._record(tenant_id, provider_id))

    async def route_names(self, tenant_id: str) -> set[str]:
        """What the tenant's routing may name of its own (its providers' ids)."""
        return {r.id for r in await self.store.list_tenant_providers(tenant_id)}

    async def create(self, tenant_id: str, body: ProviderCreate) -> ProviderView:
        validate_create(body)
        now = ids.iso(self.clock.now())
        provider_id = self.clock.new_id()
        record = TenantProviderRecord(
            id=provider_id,
            tenant_id=tenant_id,
            name=body.name,
            type=body.type,
            settings=body.settings,
            secret=self._seal(tenant_id, provider_id, body.credentials),
            created_at=now,
            updated_at=now,
        )
        self.build(record, body.credentials)  # a setting the provider cannot take fails here
        await self.store.create_tenant_provider(record)
        await self._changed(record)
        return view(record, [k for k, v in body.credentials.items() if v])

    async def patch(self, tenant_id: str, provider_id: str, body: ProviderPatch) -> ProviderView:
        current = await self._record(tenant_id, provider_id)
        validate_patch(current.type, body)
        credentials = self.credentials(current) if body.credentials is None else body.credentials
        record = msgspec.structs.replace(
            current,
            name=current.name if body.name is None else body.name,
            settings=current.settings if body.settings is None else body.settings,
            secret=self._seal(tenant_id, provider_id, credentials),
            updated_at=ids.iso(self.clock.now()),
        )
        self.build(record, credentials)
        if not await self.store.update_tenant_provider(record):
            raise NotFound("Provider not found")
        await self._changed(record)
        return self._view(record)

    async def delete(self, tenant_id: str, provider_id: str) -> None:
        if not await self.store.delete_tenant_provider(tenant_id, provider_id):
            raise NotFound("Provider not found")
        if self.on_change is not None:
            await self.on_change(tenant_id, provider_id, None)

    async def test(self, tenant_id: str, provider_id: str) -> ProbeView:
        record = await self._record(tenant_id, provider_id)
        provider = self.build(record, self.credentials(record))
        try:
            result = await provider.probe()
        finally:
            await provider.aclose()
        return ProbeView(ok=result.ok, step=result.step or None, detail=result.detail)

    async def _changed(self, record: TenantProviderRecord) -> None:
        if self.on_change is not None:
            await self.on_change(
                record.tenant_id, record.id, self.build(record, self.credentials(record))
            )

    async def route_all(self) -> None:
        """Put every tenant provider into the delivery routing (at start)."""
        for record in await self.store.all_tenant_providers():
            await self._changed(record)
