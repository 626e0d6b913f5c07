"""A tenant's sending reputation: its counts, trend and hold."""

from typing import Any, Protocol

from iep_appliance.domain.reputation import ReputationCounts, ReputationDay, ReputationHold


class ReputationStore(Protocol):
    async def reputation_counts(self, tenant_id: str, since: str) -> ReputationCounts:
        """Messages sent or bounced, bounced, complaints of messages created since `since`."""

    async def reputation_trend(self, tenant_id: str, since: str) -> list[ReputationDay]:
        """The counts per UTC day (with any mail) since `since`, oldest first."""

    async def reputation_holds(self) -> dict[str, ReputationHold]:
        """Tenants ever held, by id."""

    async def hold_tenant(self, tenant_id: str, data: dict[str, Any]) -> bool:
        """Hold the tenant's sending and queue its `tenant.paused` webhooks, in one transaction;
        False (nothing written) when it is held already."""

    async def resume_tenant(self, tenant_id: str) -> bool:
        """End the hold (resumed_at = now) and make the held send jobs due now; False when the
        tenant was not held."""
