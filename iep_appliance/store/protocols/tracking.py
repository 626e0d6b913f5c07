"""TrackingStore: open and click engagement of tracked messages (DESIGN §10.5)."""

from typing import Protocol

from iep_appliance.domain.models import MessageRecord
from iep_appliance.domain.tracking import EngagementCount, EngagementHit


class TrackingStore(Protocol):
    async def tracked_message(self, message_id: str) -> MessageRecord | None:
        """A message of any tenant by id (a verified tracking token names it), without its
        events and attachments; None when it is gone."""

    async def record_engagement(self, hit: EngagementHit) -> bool:
        """Record the hit, its `opened`/`clicked` event and its webhook jobs in one commit.
        Returns `first`: the first open of the message, or the first click of that URL, by a
        person (a bot's hit is never first)."""

    async def engagement_stats(
        self, tenant_id: str, start: str, end: str, bucket_chars: int
    ) -> list[EngagementCount]:
        """Hits, first hits and bot hits by kind and bucket (the first `bucket_chars`
        characters of created_at) over [start, end)."""
