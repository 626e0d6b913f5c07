"""The QueueStore verbs (store/protocols/queues.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

from datetime import datetime, timedelta

from iep_appliance.domain import ids
from iep_appliance.domain.models import (
    Queue,
    QueueStats,
)
from iep_appliance.store.sqlite import queues as q_queues
from iep_appliance.store.sqlite.store_base import StoreBase


class QueueVerbs(StoreBase):
    async def create_queue(self, queue: Queue) -> Queue:
        return await self.db.write(lambda c: q_queues.insert(c, queue))

    async def default_queue(self, tenant_id: str) -> Queue:
        new_id, now = self.new_id(), self._now()
        return await self.db.write(lambda c: q_queues.ensure_default(c, tenant_id, new_id, now))

    async def get_queue(self, tenant_id: str, queue_id: str) -> Queue | None:
        return await self.db.read(lambda c: q_queues.get(c, tenant_id, queue_id))

    async def queue_by_name(self, tenant_id: str, name: str) -> Queue | None:
        return await self.db.read(lambda c: q_queues.by_name(c, tenant_id, name))

    async def list_queues(self, tenant_id: str, after: str, limit: int) -> list[Queue]:
        return await self.db.read(lambda c: q_queues.list_page(c, tenant_id, after, limit))

    async def tuned_queues(self) -> list[Queue]:
        return await self.db.read(q_queues.list_tuned)

    async def update_queue(self, queue: Queue) -> Queue | None:
        now = self._now()
        return await self.db.write(lambda c: q_queues.update(c, queue, now))

    async def set_queue_state(self, tenant_id: str, queue_id: str, state: str) -> Queue | None:
        now = self._now()
        result = await self.db.write(
            lambda c: q_queues.set_state(c, tenant_id, queue_id, state, now)
        )
        if result is not None and state != "paused":
            self._notify(now)
        return result

    async def delete_queue(self, tenant_id: str, queue_id: str) -> bool:
        return await self.db.write(lambda c: q_queues.delete(c, tenant_id, queue_id))

    async def queue_stats(self, queue_id: str, now: datetime) -> QueueStats:
        now_s, hour_ago = ids.iso(now), ids.iso(now - timedelta(hours=1))
        return await self.db.read(lambda c: q_queues.stats(c, queue_id, now_s, hour_ago))
