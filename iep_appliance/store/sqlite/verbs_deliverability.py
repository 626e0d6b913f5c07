"""SqliteStore verbs of issue 16 (deliverability): DKIM keys, DNS checks, inbound mail.

Mixed into SqliteStore (store.py); SQL lives in sender_domains.py and inbound.py.
"""

from typing import Any

from iep_appliance.domain.bounces import InboundEffect, InboundMail, InboundSummary
from iep_appliance.domain.reputation import ReputationCounts, ReputationDay, ReputationHold
from iep_appliance.domain.sender_domains import DkimKeyRecord, DomainCheck
from iep_appliance.store.sqlite import inbound as q_inbound
from iep_appliance.store.sqlite import reputation as q_reputation
from iep_appliance.store.sqlite import sender_domains as q_domains
from iep_appliance.store.sqlite.store_base import StoreBase


class DeliverabilityVerbs(StoreBase):
    # ---- DKIM keys -----------------------------------------------------------------------------

    async def dkim_keys(self, domain: str) -> list[DkimKeyRecord]:
        return await self.db.read(lambda c: q_domains.keys_of(c, domain))

    async def active_dkim_keys(self) -> list[DkimKeyRecord]:
        return await self.db.read(q_domains.active_keys)

    async def next_dkim_keys(self) -> list[DkimKeyRecord]:
        return await self.db.read(q_domains.next_keys)

    async def keyless_domains(self) -> list[str]:
        return await self.db.read(q_domains.keyless_domains)

    async def add_dkim_key(self, key: DkimKeyRecord, only_if_none: bool = False) -> bool:
        return await self.db.write(lambda c: q_domains.add_key(c, key, only_if_none))

    async def activate_dkim_key(self, domain: str, selector: str) -> bool:
        now = self._now()
        return await self.db.write(lambda c: q_domains.activate(c, domain, selector, now))

    # ---- DNS checks ----------------------------------------------------------------------------

    async def domain_check(self, domain: str) -> DomainCheck | None:
        return await self.db.read(lambda c: q_domains.get_check(c, domain))

    async def save_domain_check(self, check: DomainCheck) -> None:
        await self.db.write(lambda c: q_domains.save_check(c, check))

    async def domains_due_for_check(self, before: str, limit: int) -> list[str]:
        return await self.db.read(lambda c: q_domains.due_checks(c, before, limit))

    async def mark_domain_verified(self, domain: str) -> list[str]:
        return await self.db.write(lambda c: q_domains.mark_verified(c, domain))

    async def listed_domain_status(self, tenant_id: str, domain: str) -> str | None:
        return await self.db.read(lambda c: q_domains.listed_status(c, tenant_id, domain))

    # ---- inbound mail --------------------------------------------------------------------------

    async def record_inbound(self, mail: InboundMail | None, effects: list[InboundEffect]) -> int:
        now = self._now()
        attempts = self.webhook_attempts
        applied = await self.db.write(lambda c: q_inbound.record(c, mail, effects, now, attempts))
        if applied:
            self._notify(now)  # webhook jobs may be due now
        return applied

    async def inbound_for_message(self, tenant_id: str, message_id: str) -> list[InboundSummary]:
        return await self.db.read(lambda c: q_inbound.for_message(c, tenant_id, message_id))

    async def inbound_raw(self, tenant_id: str, inbound_id: str) -> bytes | None:
        return await self.db.read(lambda c: q_inbound.raw(c, tenant_id, inbound_id))

    async def purge_inbound(self, before: str, limit: int) -> int:
        return await self.db.write(lambda c: q_inbound.purge(c, before, limit))

    async def reputation_counts(self, tenant_id: str, since: str) -> ReputationCounts:
        return await self.db.read(lambda c: q_inbound.reputation_counts(c, tenant_id, since))

    # ---- reputation hold -----------------------------------------------------------------------

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

    async def reputation_trend(self, tenant_id: str, since: str) -> list[ReputationDay]:
        return await self.db.read(lambda c: q_reputation.trend(c, tenant_id, since))
