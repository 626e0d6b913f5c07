"""The OutboxStore verbs (store/protocols/outbox.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

from iep_appliance.domain.outbox import OutboxEntry, OutboxFilter
from iep_appliance.store.sqlite import messages as q_messages
from iep_appliance.store.sqlite import outbox as q_outbox
from iep_appliance.store.sqlite.store_base import StoreBase


class OutboxVerbs(StoreBase):
    async def save_outbox(self, tenant_id: str, message_id: str, mime: bytes) -> None:
        now = self._now()
        await self.db.write(lambda c: q_messages.save_outbox(c, tenant_id, message_id, mime, now))

    async def get_outbox(self, tenant_id: str, message_id: str) -> bytes | None:
        return await self.db.read(lambda c: q_messages.get_outbox(c, tenant_id, message_id))

    async def tenant_outbox(self, tenant_id: str, f: OutboxFilter) -> list[OutboxEntry]:
        return await self.db.read(lambda c: q_outbox.entries(c, tenant_id, f))

    async def clear_outbox(self, tenant_id: str) -> int:
        return await self.db.write(
            lambda c: c.execute(q_outbox.DELETE_TENANT_OUTBOX, (tenant_id,)).rowcount
        )
