"""The BatchStore verbs (store/protocols/batches.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

from iep_appliance.domain.models import (
    BatchAccepted,
    BatchRecord,
    BatchReplayed,
    NewBatch,
    NewMessage,
)
from iep_appliance.store.sqlite import batches as q_batches
from iep_appliance.store.sqlite.store_base import StoreBase

# Batches larger than this are written in a transaction of their own, off the event loop.
ALONE_FROM = 200


class BatchVerbs(StoreBase):
    async def accept_batch(
        self, tenant_id: str, batch: NewBatch, messages: list[NewMessage]
    ) -> BatchAccepted | BatchReplayed:
        # A big batch runs off the event loop in a transaction of its own (DESIGN §1).
        write = self.db.write_alone if len(messages) > ALONE_FROM else self.db.write
        result = await write(lambda c: q_batches.accept_batch(c, tenant_id, batch, messages))
        if isinstance(result, BatchAccepted):
            self._notify(batch.scheduled_at or batch.created_at)
        return result

    async def get_batch(self, tenant_id: str, batch_id: str) -> BatchRecord | None:
        return await self.db.read(lambda c: q_batches.get_batch(c, tenant_id, batch_id))

    async def cancel_batch(self, tenant_id: str, batch_id: str) -> int | None:
        now = self._now()
        return await self.db.write(lambda c: q_batches.cancel_batch(c, tenant_id, batch_id, now))
