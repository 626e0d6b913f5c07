"""The AnalyticsStore verbs (store/protocols/analytics.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

from iep_appliance.domain.analytics import StatsQuery, StatusCount
from iep_appliance.store.sqlite import analytics as q_analytics
from iep_appliance.store.sqlite.store_base import StoreBase


class AnalyticsVerbs(StoreBase):
    async def delivery_stats(self, tenant_id: str, q: StatsQuery) -> list[StatusCount]:
        return await self.db.read(lambda c: q_analytics.bucket_counts(c, tenant_id, q))

    async def stats_totals(self, tenant_id: str, q: StatsQuery) -> dict[str, int]:
        return await self.db.read(lambda c: q_analytics.totals(c, tenant_id, q))

    async def message_backlog(self, tenant_id: str) -> dict[str, dict[str, int]]:
        return await self.db.read(lambda c: q_analytics.queue_depths(c, tenant_id))
