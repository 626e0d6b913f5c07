"""Store verbs of processes sharing one store (workers, nodes): the change feed, exact rate
windows, leases released by owner. SQL in store/sqlite/workers.py."""

from datetime import datetime

from iep_appliance.domain import ids
from iep_appliance.domain.changes import Change, NodeBeat
from iep_appliance.domain.ratelimit import Limits, RateDecision
from iep_appliance.store.sqlite import workers as q_workers
from iep_appliance.store.sqlite.store_base import StoreBase


class WorkerVerbs(StoreBase):
    async def note_change(self, kind: str, ref: str) -> int:
        now = self._now()
        return await self.db.write(lambda c: q_workers.note_change(c, kind, ref, now))

    async def last_change(self) -> int:
        return await self.db.read(q_workers.last_change)

    async def changes_after(self, after: int) -> list[Change]:
        return await self.db.read(lambda c: q_workers.changes_after(c, after))

    async def purge_changes(self, before: datetime) -> int:
        cut = ids.iso(before)
        return await self.db.write(lambda c: q_workers.purge_changes(c, cut))

    async def reserve_rate(self, tenant_id: str, limits: Limits, n: int) -> RateDecision:
        now = self._now()
        return await self.db.write(lambda c: q_workers.reserve_rate(c, tenant_id, limits, n, now))

    async def refund_rate(self, tenant_id: str, n: int) -> None:
        now = self._now()
        await self.db.write(lambda c: q_workers.refund_rate(c, tenant_id, n, now))

    async def heartbeat(self, beat: NodeBeat) -> None:
        await self.db.write(lambda c: q_workers.heartbeat(c, beat))

    async def list_nodes(self) -> list[NodeBeat]:
        return await self.db.read(q_workers.list_nodes)

    async def hold_singletons(self) -> bool:
        return True  # one machine: the caller's worker role decides

    async def release_owned_leases(self, owner: str, current_owners: list[str]) -> int:
        now = self._now()
        n = await self.db.write(lambda c: q_workers.release_owned(c, owner, now, current_owners))
        if n:
            self._notify(now)
        return n
