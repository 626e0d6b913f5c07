"""The TenantStore verbs (store/protocols/tenants.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

import sqlite3

from iep_appliance.domain.errors import Conflict
from iep_appliance.domain.models import (
    Tenant,
    TenantSettings,
)
from iep_appliance.store.sqlite import operators as q_operators
from iep_appliance.store.sqlite import tenants as q_tenants
from iep_appliance.store.sqlite.store_base import StoreBase


class TenantVerbs(StoreBase):
    async def is_fresh(self) -> bool:
        return await self.db.read(q_tenants.is_fresh)

    async def create_tenant(
        self, slug: str, name: str, domains: list[str], settings: TenantSettings | None = None
    ) -> Tenant:
        tenant_id, now = self.new_id(), self._now()

        def fn(conn: sqlite3.Connection) -> Tenant:
            if q_tenants.get_tenant_by_slug(conn, slug) is not None:
                raise Conflict(f"A tenant with slug {slug!r} already exists")
            return q_tenants.insert_tenant(
                conn, tenant_id, slug, name, settings or TenantSettings(), domains, now
            )

        return await self.db.write(fn)

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        return await self.db.read(lambda c: q_tenants.get_tenant(c, tenant_id))

    async def get_tenant_by_slug(self, slug: str) -> Tenant | None:
        return await self.db.read(lambda c: q_tenants.get_tenant_by_slug(c, slug))

    async def list_tenants(self) -> list[Tenant]:
        return await self.db.read(q_tenants.list_tenants)

    async def update_tenant_settings(
        self, tenant_id: str, settings: TenantSettings
    ) -> Tenant | None:
        now = self._now()
        return await self.db.write(lambda c: q_tenants.update_settings(c, tenant_id, settings, now))

    async def patch_tenant(
        self, tenant_id: str, name: str, settings: TenantSettings
    ) -> Tenant | None:
        now = self._now()
        return await self.db.write(
            lambda c: q_tenants.patch_tenant(c, tenant_id, name, settings, now)
        )

    async def set_tenant_active(self, tenant_id: str, active: bool) -> Tenant | None:
        now = self._now()
        return await self.db.write(
            lambda c: q_operators.set_tenant_active(c, tenant_id, active, now)
        )
