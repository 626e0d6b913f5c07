"""The SuppressionStore verbs (store/protocols/suppressions.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

from iep_appliance.domain.models import Suppression
from iep_appliance.store.sqlite import messages as q_messages
from iep_appliance.store.sqlite import suppressions as q_suppressions
from iep_appliance.store.sqlite.store_base import StoreBase


class SuppressionVerbs(StoreBase):
    async def suppressed_among(self, tenant_id: str, emails: list[str]) -> list[str]:
        return await self.db.read(lambda c: q_messages.suppressed_among(c, tenant_id, emails))

    async def list_suppressions(
        self, tenant_id: str, search: str | None, after: str, limit: int
    ) -> list[Suppression]:
        return await self.db.read(
            lambda c: q_suppressions.list_page(c, tenant_id, search, after, limit)
        )

    async def add_suppressions(
        self, tenant_id: str, emails: list[str], reason: str
    ) -> list[Suppression]:
        now = self._now()
        return await self.db.write(lambda c: q_suppressions.add(c, tenant_id, emails, reason, now))

    async def remove_suppression(self, tenant_id: str, email: str) -> bool:
        return await self.db.write(lambda c: q_suppressions.remove(c, tenant_id, email))
