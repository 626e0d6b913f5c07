"""The RateWindowStore verbs (store/protocols/rate_windows.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

from iep_appliance.domain.ratelimit import WindowCount
from iep_appliance.store.sqlite import rate_windows as q_rate_windows
from iep_appliance.store.sqlite.store_base import StoreBase


class RateWindowVerbs(StoreBase):
    async def load_rate_windows(self, starts: dict[str, str]) -> list[WindowCount]:
        return await self.db.read(lambda c: q_rate_windows.current(c, starts))

    async def add_rate_counts(
        self, deltas: dict[tuple[str, str, str], int], purge_before: dict[str, str]
    ) -> None:
        await self.db.write(lambda c: q_rate_windows.add(c, deltas, purge_before))
