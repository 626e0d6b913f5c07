"""The TrackingStore verbs (store/protocols/tracking.py) over SQLite; the SQL lives in
store/sqlite/tracking.py."""

from iep_appliance.domain.models import MessageRecord
from iep_appliance.domain.tracking import EngagementCount, EngagementHit
from iep_appliance.store.sqlite import tracking as q_tracking
from iep_appliance.store.sqlite.store_base import StoreBase


class TrackingVerbs(StoreBase):
    async def tracked_message(self, message_id: str) -> MessageRecord | None:
        return await self.db.read(lambda c: q_tracking.tracked(c, message_id))

    async def record_engagement(self, hit: EngagementHit) -> bool:
        now = self._now()
        attempts = self.webhook_attempts
        first = await self.db.write(lambda c: q_tracking.record(c, hit, now, attempts))
        self._notify(now)  # webhook jobs may be due now
        return first

    async def engagement_stats(
        self, tenant_id: str, start: str, end: str, bucket_chars: int
    ) -> list[EngagementCount]:
        return await self.db.read(
            lambda c: q_tracking.stats(c, tenant_id, start, end, bucket_chars)
        )
