"""The KeyStore verbs (store/protocols/keys.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

from iep_appliance.domain.models import ApiKey
from iep_appliance.store.sqlite import keys as q_keys
from iep_appliance.store.sqlite.store_base import StoreBase


class KeyVerbs(StoreBase):
    async def create_key(self, key: ApiKey) -> ApiKey:
        return await self.db.write(lambda c: q_keys.insert_key(c, key))

    async def key_by_prefix(self, prefix: str) -> ApiKey | None:
        return await self.db.read(lambda c: q_keys.key_by_prefix(c, prefix))

    async def list_keys(self, tenant_id: str) -> list[ApiKey]:
        return await self.db.read(lambda c: q_keys.list_keys(c, tenant_id))

    async def get_key(self, tenant_id: str, key_id: str) -> ApiKey | None:
        return await self.db.read(lambda c: q_keys.get_key(c, tenant_id, key_id))

    async def revoke_key(self, tenant_id: str, key_id: str) -> bool:
        return await self.db.write(lambda c: q_keys.revoke_key(c, tenant_id, key_id))

    async def set_key_expiry(self, tenant_id: str, key_id: str, expires_at: str) -> bool:
        return await self.db.write(lambda c: q_keys.set_expiry(c, tenant_id, key_id, expires_at))

    async def touch_keys(self, used: dict[str, str]) -> None:
        if used:
            await self.db.write(lambda c: q_keys.touch_keys(c, used))
