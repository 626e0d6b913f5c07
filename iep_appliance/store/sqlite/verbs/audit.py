"""The AuditStore verbs (store/protocols/audit.py) over SQLite; the SQL is in
store/sqlite/audit.py."""

from iep_appliance.domain.audit import AuditEntry, AuditQuery
from iep_appliance.domain.models import ApiKey
from iep_appliance.store.sqlite.audit import (
    entry_of,
    insert_entries,
    purge,
    select_of,
    set_allowlist,
)
from iep_appliance.store.sqlite.store_base import StoreBase


class AuditVerbs(StoreBase):
    async def append_audit(self, entries: list[AuditEntry]) -> None:
        if entries:
            await self.db.write(lambda c: insert_entries(c, entries))

    async def list_audit(self, q: AuditQuery) -> list[AuditEntry]:
        sql, args = select_of(q)
        return await self.db.read(lambda c: [entry_of(r) for r in c.execute(sql, args)])

    async def purge_audit(self, before: str, limit: int) -> int:
        return await self.db.write(lambda c: purge(c, before, limit))

    async def set_key_ip_allowlist(
        self, tenant_id: str, key_id: str, allowlist: list[str]
    ) -> ApiKey | None:
        return await self.db.write(lambda c: set_allowlist(c, tenant_id, key_id, allowlist))
