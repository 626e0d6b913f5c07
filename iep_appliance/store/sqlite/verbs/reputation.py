"""The ReputationStore verbs (store/protocols/reputation.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

from typing import Any

from iep_appliance.domain.reputation import ReputationCounts, ReputationDay, ReputationHold
from iep_appliance.store.sqlite import inbound as q_inbound
from iep_appliance.store.sqlite import reputation as q_reputation
from iep_appliance.store.sqlite.store_base import StoreBase


class ReputationVerbs(StoreBase):
    async def reputation_counts(self, tenant_id: str, since: str) -> ReputationCounts:
        return await self.db.read(lambda c: q_inbound.reputation_counts(c, tenant_id, since))

    async def reputation_trend(self, tenant_id: str, since: str) -> list[ReputationDay]:
        return await self.db.read(lambda c: q_reputation.trend(c, tenant_id, since))

    async def reputation_holds(self) -> dict[str, ReputationHold]:
        return await self.db.read(q_reputation.holds)

    async def hold_tenant(self, tenant_id: str, data: dict[str, Any]) -> bool:
        now = self._now()
        attempts = self.webhook_attempts
        held = await self.db.write(lambda c: q_reputation.hold(c, tenant_id, data, now, attempts))
        if held:
            self._notify(now)  # the tenant.paused webhooks are due now
        return held

    async def resume_tenant(self, tenant_id: str) -> bool:
        now = self._now()
        resumed = await self.db.write(lambda c: q_reputation.resume(c, tenant_id, now))
        if resumed:
            self._notify(now)  # the held mail is due now
        return resumed
