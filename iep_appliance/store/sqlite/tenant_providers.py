"""SqliteStore verbs of issue 17: provider events and tenant providers (SQL in this module
and provider_events.py). Mixed into SqliteStore (store.py)."""

import sqlite3
from collections.abc import Callable

from iep_appliance.domain.bounces import InboundEffect
from iep_appliance.domain.errors import Conflict
from iep_appliance.domain.tenant_providers import TenantProviderRecord
from iep_appliance.store.sqlite import provider_events as q_events
from iep_appliance.store.sqlite import rows
from iep_appliance.store.sqlite.store_base import StoreBase

_COLUMNS = "id, tenant_id, name, type, settings, secret, created_at, updated_at"
SELECT_ONE = f"SELECT {_COLUMNS} FROM tenant_providers WHERE tenant_id = ? AND id = ?"
SELECT_TENANT = f"SELECT {_COLUMNS} FROM tenant_providers WHERE tenant_id = ? ORDER BY name"
SELECT_ALL = f"SELECT {_COLUMNS} FROM tenant_providers ORDER BY tenant_id, name"
INSERT = f"INSERT INTO tenant_providers ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
UPDATE = (
    "UPDATE tenant_providers SET name = ?, settings = ?, secret = ?, updated_at = ?"
    " WHERE tenant_id = ? AND id = ?"
)
DELETE = "DELETE FROM tenant_providers WHERE tenant_id = ? AND id = ?"
SECRETS = "SELECT tenant_id, id, secret FROM tenant_providers"
RESEAL = "UPDATE tenant_providers SET secret = ? WHERE tenant_id = ? AND id = ?"
DKIM = "SELECT domain, selector, private_key FROM dkim_keys"
RESEAL_DKIM = "UPDATE dkim_keys SET private_key = ? WHERE domain = ? AND selector = ?"


def _record(row: tuple) -> TenantProviderRecord:
    id_, tenant_id, name, kind, settings, secret, created, updated = row
    return TenantProviderRecord(
        id=id_,
        tenant_id=tenant_id,
        name=name,
        type=kind,
        settings=rows.loads(settings, {}),
        secret=bytes(secret),
        created_at=created,
        updated_at=updated,
    )


def _insert(conn: sqlite3.Connection, r: TenantProviderRecord) -> None:
    try:
        conn.execute(
            INSERT,
            (
                r.id,
                r.tenant_id,
                r.name,
                r.type,
                rows.dumps(r.settings),
                r.secret,
                r.created_at,
                r.updated_at,
            ),
        )
    except sqlite3.IntegrityError:
        raise Conflict(f"a provider named {r.name!r} exists", {"field": "name"}) from None


def _update(conn: sqlite3.Connection, r: TenantProviderRecord) -> bool:
    try:
        args = (r.name, rows.dumps(r.settings), r.secret, r.updated_at, r.tenant_id, r.id)
        return conn.execute(UPDATE, args).rowcount == 1
    except sqlite3.IntegrityError:
        raise Conflict(f"a provider named {r.name!r} exists", {"field": "name"}) from None


def _reseal(conn: sqlite3.Connection, reseal: Callable[[str, bytes], bytes]) -> int:
    n = 0
    for tenant_id, id_, secret in conn.execute(SECRETS).fetchall():
        new = reseal(f"provider:{tenant_id}:{id_}", bytes(secret))
        conn.execute(RESEAL, (new, tenant_id, id_))
        n += 1
    for domain, selector, key in conn.execute(DKIM).fetchall():
        new = reseal(f"dkim:{domain}:{selector}", bytes(key))
        conn.execute(RESEAL_DKIM, (new, domain, selector))
        n += 1
    return n


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
        found = await self.db.read(lambda c: c.execute(SELECT_TENANT, (tenant_id,)).fetchall())
        return [_record(r) for r in found]

    async def all_tenant_providers(self) -> list[TenantProviderRecord]:
        found = await self.db.read(lambda c: c.execute(SELECT_ALL).fetchall())
        return [_record(r) for r in found]

    async def get_tenant_provider(
        self, tenant_id: str, provider_id: str
    ) -> TenantProviderRecord | None:
        row = await self.db.read(
            lambda c: c.execute(SELECT_ONE, (tenant_id, provider_id)).fetchone()
        )
        return _record(row) if row else None

    async def create_tenant_provider(self, record: TenantProviderRecord) -> None:
        await self.db.write(lambda c: _insert(c, record))

    async def update_tenant_provider(self, record: TenantProviderRecord) -> bool:
        return await self.db.write(lambda c: _update(c, record))

    async def delete_tenant_provider(self, tenant_id: str, provider_id: str) -> bool:
        return await self.db.write(
            lambda c: c.execute(DELETE, (tenant_id, provider_id)).rowcount == 1
        )

    async def reseal_secrets(self, reseal: object) -> int:
        return await self.db.write(lambda c: _reseal(c, reseal))  # type: ignore[arg-type]
