"""Per-tenant rate-limit counters by window (flushed in batches, never per request)."""

from typing import Protocol

from iep_appliance.domain.ratelimit import WindowCount


class RateWindowStore(Protocol):
    async def load_rate_windows(self, starts: dict[str, str]) -> list[WindowCount]:
        """The count of every tenant's window that starts at `starts[window]`."""

    async def add_rate_counts(
        self, deltas: dict[tuple[str, str, str], int], purge_before: dict[str, str]
    ) -> None:
        """Add `deltas[(tenant_id, window, start)]` (never below 0) and drop ended windows."""
