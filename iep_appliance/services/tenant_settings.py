"""GET/PATCH of a tenant's own settings (rate limits, attachment limits, routing, sandbox).

The merge and its validation are pure (`domain.tenant_settings.apply_patch`); this service
loads, saves and tells `on_change(tenant_id)` so cached tenant rules and routing are dropped.
"""

from collections.abc import Callable, Collection
from typing import Any

from iep_appliance.domain.errors import FieldError, NotPermitted, or_not_found
from iep_appliance.domain.models import Tenant
from iep_appliance.domain.tenant_settings import apply_patch
from iep_appliance.store.base import Store


class TenantSettingsService:
    def __init__(
        self, store: Store, providers: Collection[str], on_change: Callable[[str], None]
    ) -> None:
        self.store = store
        self.providers = frozenset(providers)
        self.on_change = on_change

    def reconfigure(self, providers: Collection[str]) -> None:
        """The provider names of a reloaded config (what `routing` may name)."""
        self.providers = frozenset(providers)

    async def get(self, tenant_id: str) -> Tenant:
        return or_not_found(await self.store.get_tenant(tenant_id), "Tenant not found")

    async def patch(self, tenant_id: str, body: Any, sandbox_key: bool = False) -> Tenant:
        """Merge `body` (any subset of the GET shape). Raises ValidationFailed naming fields;
        with `sandbox_key`, NotPermitted naming `sandbox`/`routing` when they would change
        (a sandbox key cannot make its tenant live or move its mail: DESIGN §10.1)."""
        tenant = await self.get(tenant_id)
        patched = apply_patch(tenant, body, self.providers)
        if sandbox_key:
            refused = []
            if patched.settings.sandbox != tenant.settings.sandbox:
                refused.append(FieldError("sandbox", "a sandbox key cannot change it"))
            if patched.settings.routing != tenant.settings.routing:
                refused.append(FieldError("routing", "a sandbox key cannot change it"))
            if refused:
                raise NotPermitted(refused, "A sandbox key cannot change these settings")
        updated = or_not_found(
            await self.store.patch_tenant(tenant_id, patched.name, patched.settings),
            "Tenant not found",
        )
        self.on_change(tenant_id)
        return updated
