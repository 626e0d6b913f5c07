"""The InboundStore verbs (store/protocols/inbound.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

from iep_appliance.domain.bounces import InboundEffect, InboundMail, InboundSummary
from iep_appliance.store.sqlite import inbound as q_inbound
from iep_appliance.store.sqlite.store_base import StoreBase


class InboundVerbs(StoreBase):
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
