"""The GdprStore verbs (store/protocols/gdpr.py) over SQLite; the SQL is in store/sqlite/gdpr.py.
Runs on PostgreSQL too (through its dialect); compacting the file is SQLite's own
capability (verbs/compaction.py)."""

from typing import Any

from iep_appliance.domain.gdpr import EraseResult, GdprRequest
from iep_appliance.store.sqlite import rows
from iep_appliance.store.sqlite.gdpr import LIST_REQUESTS, SAVE_REQUEST, erase, export, request_of
from iep_appliance.store.sqlite.store_base import StoreBase


class GdprVerbs(StoreBase):
    async def gdpr_export(self, tenant_id: str, email: str) -> dict[str, list[dict[str, Any]]]:
        return await self.db.read(lambda c: export(c, tenant_id, email))

    async def gdpr_erase(self, tenant_id: str, email: str, email_hash: str) -> EraseResult:
        now = self._now()
        return await self.db.write_alone(lambda c: erase(c, tenant_id, email, email_hash, now))

    async def save_gdpr_request(self, request: GdprRequest) -> None:
        args = rows.values_of(request, counts=rows.dumps(request.counts))
        await self.db.write(lambda c: c.execute(SAVE_REQUEST, args))

    async def list_gdpr_requests(self, tenant_id: str, limit: int) -> list[GdprRequest]:
        return await self.db.read(
            lambda c: [request_of(r) for r in c.execute(LIST_REQUESTS, (tenant_id, limit))]
        )
