"""A tenant's sender domains and their DNS checks. Domains are lower-cased names;
a domain shared by tenants has one check."""

from typing import Protocol

from iep_appliance.domain.models import SenderDomain
from iep_appliance.domain.sender_domains import DomainCheck, DomainClaim


class SenderDomainStore(Protocol):
    async def allowed_domains(self, tenant_id: str) -> frozenset[str]:
        """The tenant's usable (verified) sender domains."""

    async def list_domains(self, tenant_id: str) -> list[SenderDomain]:
        """The tenant's sender domains; "verified" ones are usable in `from`, "pending" wait
        for their DNS check."""

    async def add_domain(self, tenant_id: str, domain: str) -> bool:
        """Assign a domain as the operator does: verified at once. False when listed."""

    async def claim_domain(self, tenant_id: str, domain: str) -> DomainClaim:
        """A tenant adds a domain (pending) in one transaction: "added", "listed" (this
        tenant has it already) or "taken" (another tenant lists it; nothing written)."""

    async def remove_domain(self, tenant_id: str, domain: str) -> bool: ...
    async def listed_domain_status(self, tenant_id: str, domain: str) -> str | None:
        """'pending' | 'verified' in the tenant's list; None when the tenant does not list it."""

    async def mark_domain_verified(self, domain: str) -> list[str]:
        """DNS verified `domain`: pending rows become verified. Returns those tenants' ids."""

    async def domain_check(self, domain: str) -> DomainCheck | None: ...
    async def save_domain_check(self, check: DomainCheck) -> None: ...
    async def domains_due_for_check(self, before: str, limit: int) -> list[str]:
        """Listed domains last checked before `before` (or never), by name."""
