"""The DkimKeyStore verbs (store/protocols/dkim.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

from iep_appliance.domain.sender_domains import DkimKeyRecord
from iep_appliance.store.sqlite import sender_domains as q_domains
from iep_appliance.store.sqlite.store_base import StoreBase


class DkimKeyVerbs(StoreBase):
    async def dkim_keys(self, domain: str) -> list[DkimKeyRecord]:
        return await self.db.read(lambda c: q_domains.keys_of(c, domain))

    async def active_dkim_keys(self) -> list[DkimKeyRecord]:
        return await self.db.read(q_domains.active_keys)

    async def next_dkim_keys(self) -> list[DkimKeyRecord]:
        return await self.db.read(q_domains.next_keys)

    async def keyless_domains(self) -> list[str]:
        return await self.db.read(q_domains.keyless_domains)

    async def add_dkim_key(self, key: DkimKeyRecord, only_if_none: bool = False) -> bool:
        return await self.db.write(lambda c: q_domains.add_key(c, key, only_if_none))

    async def activate_dkim_key(self, domain: str, selector: str) -> bool:
        now = self._now()
        return await self.db.write(lambda c: q_domains.activate(c, domain, selector, now))
