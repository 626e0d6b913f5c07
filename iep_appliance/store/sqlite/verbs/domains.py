"""The SenderDomainStore verbs (store/protocols/domains.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

from iep_appliance.domain.models import SenderDomain
from iep_appliance.domain.sender_domains import DomainCheck, DomainClaim
from iep_appliance.store.sqlite import sender_domains as q_domains
from iep_appliance.store.sqlite import tenants as q_tenants
from iep_appliance.store.sqlite.store_base import StoreBase


class SenderDomainVerbs(StoreBase):
    async def allowed_domains(self, tenant_id: str) -> frozenset[str]:
        found = await self.db.read(lambda c: q_tenants.list_domains(c, tenant_id))
        return frozenset(d.domain for d in found if d.status == "verified")

    async def list_domains(self, tenant_id: str) -> list[SenderDomain]:
        return await self.db.read(lambda c: q_tenants.list_domains(c, tenant_id))

    async def add_domain(self, tenant_id: str, domain: str) -> bool:
        now = self._now()
        return await self.db.write(lambda c: q_tenants.add_domain(c, tenant_id, domain, now))

    async def claim_domain(self, tenant_id: str, domain: str) -> DomainClaim:
        now = self._now()
        return await self.db.write(lambda c: q_tenants.claim_domain(c, tenant_id, domain, now))

    async def remove_domain(self, tenant_id: str, domain: str) -> bool:
        return await self.db.write(lambda c: q_tenants.remove_domain(c, tenant_id, domain))

    async def listed_domain_status(self, tenant_id: str, domain: str) -> str | None:
        return await self.db.read(lambda c: q_domains.listed_status(c, tenant_id, domain))

    async def mark_domain_verified(self, domain: str) -> list[str]:
        return await self.db.write(lambda c: q_domains.mark_verified(c, domain))

    async def domain_check(self, domain: str) -> DomainCheck | None:
        return await self.db.read(lambda c: q_domains.get_check(c, domain))

    async def save_domain_check(self, check: DomainCheck) -> None:
        await self.db.write(lambda c: q_domains.save_check(c, check))

    async def domains_due_for_check(self, before: str, limit: int) -> list[str]:
        return await self.db.read(lambda c: q_domains.due_checks(c, before, limit))
