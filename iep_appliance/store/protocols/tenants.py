"""Tenants: their slug, name, settings and active flag."""

from typing import Protocol

from iep_appliance.domain.models import (
    Tenant,
    TenantSettings,
)


class TenantStore(Protocol):
    async def is_fresh(self) -> bool: ...
    async def create_tenant(
        self, slug: str, name: str, domains: list[str], settings: TenantSettings | None = None
    ) -> Tenant:
        """Raises Conflict when the slug exists."""

    async def get_tenant(self, tenant_id: str) -> Tenant | None: ...
    async def get_tenant_by_slug(self, slug: str) -> Tenant | None: ...
    async def list_tenants(self) -> list[Tenant]: ...
    async def update_tenant_settings(
        self, tenant_id: str, settings: TenantSettings
    ) -> Tenant | None: ...
    async def patch_tenant(
        self, tenant_id: str, name: str, settings: TenantSettings
    ) -> Tenant | None: ...
    async def set_tenant_active(self, tenant_id: str, active: bool) -> Tenant | None:
        """Deactivate or reactivate a tenant; None when there is no such tenant."""
