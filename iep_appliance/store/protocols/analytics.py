"""Delivery analytics of one tenant from the hourly rollups, and its backlog."""

from typing import Protocol

from iep_appliance.domain.analytics import StatsQuery, StatusCount


class AnalyticsStore(Protocol):
    async def delivery_stats(self, tenant_id: str, q: StatsQuery) -> list[StatusCount]:
        """Counts by bucket (`q.group_by`) and status from the hourly rollups over
        [q.start, q.end)."""

    async def stats_totals(self, tenant_id: str, q: StatsQuery) -> dict[str, int]: ...
    async def message_backlog(self, tenant_id: str) -> dict[str, dict[str, int]]:
        """Messages scheduled, queued or processing, by queue name and status."""
