"""The ProviderEventStore and TenantProviderStore verbs (store/protocols/providers.py) over
SQLite; the SQL lives in store/sqlite/provider_events.py and store/sqlite/tenant_providers.py."""

from collections.abc import Callable

from iep_appliance.domain.bounces import InboundEffect
from iep_appliance.domain.tenant_providers import TenantProviderRecord
from iep_appliance.store.sqlite import provider_events as q_events
from iep_appliance.store.sqlite import tenant_providers as q_providers
from iep_appliance.store.sqlite.store_base import StoreBase


class ProviderVerbs(StoreBase):
    # ---- provider events ----------------------------------------------------------------------

    async def record_provider_event(
        self,
        provider: str,
        event_id: str,
        kind: str,
        tenant_id: str | None,
        message_id: str | None,
        provider_message_id: str | None,
        payload: bytes,
        effects: list[InboundEffect],
    ) -> int | None:
        now = self._now()
        attempts = self.webhook_attempts
        row = (provider, event_id, kind, tenant_id, message_id, provider_message_id,
               payload.decode("utf-8", "replace"))  # fmt: skip
        applied = await self.db.write(lambda c: q_events.record(c, row, effects, now, attempts))
        if applied:
            self._notify(now)  # webhook jobs may be due now
        return applied

    async def use_webhook_token(self, provider: str, token: str) -> bool:
        now = self._now()
        return await self.db.write(lambda c: q_events.use_token(c, provider, token, now))

    async def provider_events_for_message(self, message_id: str) -> list[dict[str, object]]:
        return await self.db.read(lambda c: q_events.for_message(c, message_id))

    # ---- tenant providers ---------------------------------------------------------------------

    async def list_tenant_providers(self, tenant_id: str) -> list[TenantProviderRecord]:
        found = await self.db.read(
            lambda c: c.execute(q_providers.SELECT_TENANT, (tenant_id,)).fetchall()
        )
        return [q_providers.record(r) for r in found]

    async def all_tenant_providers(self) -> list[TenantProviderRecord]:
        found = await self.db.read(lambda c: c.execute(q_providers.SELECT_ALL).fetchall())
        return [q_providers.record(r) for r in found]

    async def get_tenant_provider(
        self, tenant_id: str, provider_id: str
    ) -> TenantProviderRecord | None:
        row = await self.db.read(
            lambda c: c.execute(q_providers.SELECT_ONE, (tenant_id, provider_id)).fetchone()
        )
        return q_providers.record(row) if row else None

    async def create_tenant_provider(self, record: TenantProviderRecord) -> None:
        await self.db.write(lambda c: q_providers.insert(c, record))

    async def update_tenant_provider(self, record: TenantProviderRecord) -> bool:
        return await self.db.write(lambda c: q_providers.update(c, record))

    async def delete_tenant_provider(self, tenant_id: str, provider_id: str) -> bool:
        return await self.db.write(
            lambda c: c.execute(q_providers.DELETE, (tenant_id, provider_id)).rowcount == 1
        )

    async def purge_provider_events(
        self, events_before: str, tokens_before: str, limit: int
    ) -> int:
        return await self.db.write(lambda c: q_events.purge(c, events_before, tokens_before, limit))

    async def reseal_secrets(
        self,
        reseal: Callable[[str, bytes], bytes],
        reseal_text: Callable[[str, str], str],
    ) -> int:
        return await self.db.write(lambda c: q_providers.reseal(c, reseal, reseal_text))
