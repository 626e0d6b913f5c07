"""Delivery analytics: the use cases behind /v1/analytics. Reads the hourly rollups that the
store keeps at write time (never a scan of messages), so an answer over a million messages
costs a few thousand rollup rows at most."""

from datetime import datetime

import msgspec

from iep_appliance.clock import Clock
from iep_appliance.domain.analytics import (
    STATS_STATUSES,
    StatsQuery,
    fill_buckets,
    rates,
    stats_query,
)
from iep_appliance.store.base import Store


class DeliveryStats(msgspec.Struct, frozen=True):
    query: StatsQuery
    buckets: list[tuple[str, dict[str, int]]]


class Overview(msgspec.Struct, frozen=True):
    query: StatsQuery
    totals: dict[str, int]
    delivery_rate: float
    bounce_rate: float
    queue_depths: dict[str, dict[str, int]]


class AnalyticsService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def query(self, params: dict[str, str | None], now: datetime | None = None) -> StatsQuery:
        """Validated parameters (`groupBy`, `from`, `to`, `queue`, `category`, `tag`)."""
        return stats_query(
            now or self.clock.now(),
            group_by=params.get("groupBy"),
            start=params.get("from"),
            end=params.get("to"),
            queue=params.get("queue"),
            category=params.get("category"),
            tag=params.get("tag"),
        )

    async def delivery(self, tenant_id: str, params: dict[str, str | None]) -> DeliveryStats:
        q = self.query(params)
        rows = await self.store.delivery_stats(tenant_id, q)
        return DeliveryStats(query=q, buckets=fill_buckets(q, rows))

    async def overview(self, tenant_id: str, params: dict[str, str | None]) -> Overview:
        """Totals by status and rates over the range (default: the last 30 days), and the
        current backlog of every queue."""
        q = self.query({"groupBy": "day", **{k: v for k, v in params.items() if v is not None}})
        found = await self.store.stats_totals(tenant_id, q)
        totals = {status: found.get(status, 0) for status in STATS_STATUSES}
        totals.update({k: v for k, v in found.items() if k not in totals})
        totals["accepted"] = totals["queued"] + totals["scheduled"]
        delivery_rate, bounce_rate = rates(totals)
        backlog = await self.store.message_backlog(tenant_id)
        depths = {
            queue: {
                "scheduled": counts.get("scheduled", 0),
                "queued": counts.get("queued", 0),
                "processing": counts.get("processing", 0),
                "total": sum(counts.values()),
            }
            for queue, counts in sorted(backlog.items())
        }
        return Overview(
            query=q,
            totals=totals,
            delivery_rate=delivery_rate,
            bounce_rate=bounce_rate,
            queue_depths=depths,
        )
