"""A tenant's allowed sender domains: the list `from` is checked against (exact match; a
subdomain must be listed itself). Every change tells `on_change(tenant_id)` so cached tenant
rules are dropped at once.

Two ways in (DESIGN §4.1): the operator assigns a domain (`add`: CLI, dashboard), usable at
once and shareable by several tenants; a tenant requests one through the API (`request`),
which is `pending` until verified (§10.3) and refused (409) when another tenant lists it, so
no tenant can send as another's domain."""

from collections.abc import Callable

from iep_appliance.domain.errors import Conflict, NotFound, ValidationFailed
from iep_appliance.domain.models import SenderDomain
from iep_appliance.services.dkim_keys import DkimKeyService
from iep_appliance.services.tenants import check_domain
from iep_appliance.store.base import Store


class DomainService:
    def __init__(
        self,
        store: Store,
        on_change: Callable[[str], None],
        dkim_keys: DkimKeyService | None = None,
    ) -> None:
        self.store = store
        self.on_change = on_change
        self.dkim_keys = dkim_keys  # a new domain gets its DKIM key at once

    async def list_all(self, tenant_id: str) -> list[SenderDomain]:
        return await self.store.list_domains(tenant_id)

    async def add(
        self, tenant_id: str, domain: str, dkim_algorithm: str | None = None
    ) -> SenderDomain:
        """The operator assigns a domain (verified). Raises ValidationFailed (`domain`) for a
        bad name, Conflict when already listed."""
        name = check_domain(domain)
        if self.dkim_keys is not None:
            self.dkim_keys.check_algorithm(dkim_algorithm)
        if not await self.store.add_domain(tenant_id, name):
            raise Conflict(f"Domain {name!r} is already listed", {"domain": name})
        return await self._added(tenant_id, name, dkim_algorithm)

    async def request(
        self, tenant_id: str, domain: str, dkim_algorithm: str | None = None
    ) -> SenderDomain:
        """A tenant adds a domain (pending). Raises ValidationFailed (`domain`) for a bad name,
        Conflict when this tenant already lists it or another tenant does."""
        name = check_domain(domain)
        if self.dkim_keys is not None:
            self.dkim_keys.check_algorithm(dkim_algorithm)
        outcome = await self.store.claim_domain(tenant_id, name)
        if outcome == "taken":
            raise Conflict(f"Domain {name!r} belongs to another tenant", {"domain": name})
        if outcome != "added":
            raise Conflict(f"Domain {name!r} is already listed", {"domain": name})
        return await self._added(tenant_id, name, dkim_algorithm)

    async def _added(
        self, tenant_id: str, name: str, dkim_algorithm: str | None = None
    ) -> SenderDomain:
        self.on_change(tenant_id)
        if self.dkim_keys is not None:
            await self.dkim_keys.ensure_key(name, dkim_algorithm)
        for item in await self.list_all(tenant_id):
            if item.domain == name:
                return item
        raise NotFound("Domain not found")  # removed concurrently

    async def remove(self, tenant_id: str, domain: str) -> None:
        try:
            name = check_domain(domain)
        except ValidationFailed:
            raise NotFound("Domain not found") from None
        if not await self.store.remove_domain(tenant_id, name):
            raise NotFound("Domain not found")
        self.on_change(tenant_id)
