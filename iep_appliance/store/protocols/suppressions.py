"""A tenant's suppression list (addresses lower-cased)."""

from typing import Protocol

from iep_appliance.domain.models import (
    Suppression,
)


class SuppressionStore(Protocol):
    async def suppressed_among(self, tenant_id: str, emails: list[str]) -> list[str]: ...
    async def list_suppressions(
        self, tenant_id: str, search: str | None, after: str, limit: int
    ) -> list[Suppression]:
        """A page in address order after the address `after` ('' = first page); `search`
        matches a substring of the (lower-cased) address."""

    async def add_suppressions(
        self, tenant_id: str, emails: list[str], reason: str
    ) -> list[Suppression]:
        """Suppress lower-cased `emails`; an existing entry is kept as it is. Returns each."""

    async def remove_suppression(self, tenant_id: str, email: str) -> bool:
        """Un-suppress (and reset its hard-bounce count). False when it was not listed."""
