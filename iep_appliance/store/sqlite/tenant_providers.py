"""All SQL of tenant providers, and the reseal of every secret at rest (webhook secrets through
store/sqlite/webhooks.py; the verbs: store/sqlite/verbs/providers.py)."""

import sqlite3
from collections.abc import Callable
from typing import Any

from iep_appliance.domain.errors import Conflict
from iep_appliance.domain.tenant_providers import TenantProviderRecord
from iep_appliance.store.sqlite import rows
from iep_appliance.store.sqlite import webhooks as q_webhooks

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


def record(row: tuple[Any, ...]) -> TenantProviderRecord:
    return rows.struct_of(
        TenantProviderRecord, row, settings=rows.loads(row[4], {}), secret=bytes(row[5])
    )


NAME_TAKEN = "SELECT 1 FROM tenant_providers WHERE tenant_id = ? AND name = ? AND id <> ?"


def _name_free(conn: sqlite3.Connection, r: TenantProviderRecord) -> None:
    """Raises Conflict when another provider of the tenant has `r.name` (checked before the
    write: a unique violation reads differently on each backend)."""
    if conn.execute(NAME_TAKEN, (r.tenant_id, r.name, r.id)).fetchone() is not None:
        raise Conflict(f"a provider named {r.name!r} exists", {"field": "name"})


def insert(conn: sqlite3.Connection, r: TenantProviderRecord) -> None:
    _name_free(conn, r)
    conn.execute(INSERT, rows.values_of(r, settings=rows.dumps(r.settings)))


def update(conn: sqlite3.Connection, r: TenantProviderRecord) -> bool:
    _name_free(conn, r)
    args = (r.name, rows.dumps(r.settings), r.secret, r.updated_at, r.tenant_id, r.id)
    return bool(conn.execute(UPDATE, args).rowcount == 1)


def reseal(
    conn: sqlite3.Connection,
    reseal: Callable[[str, bytes], bytes],
    reseal_text: Callable[[str, str], str],
) -> int:
    n = q_webhooks.reseal_secrets(conn, reseal_text)
    for tenant_id, id_, secret in conn.execute(SECRETS).fetchall():
        new = reseal(f"provider:{tenant_id}:{id_}", bytes(secret))
        conn.execute(RESEAL, (new, tenant_id, id_))
        n += 1
    for domain, selector, key in conn.execute(DKIM).fetchall():
        new = reseal(f"dkim:{domain}:{selector}", bytes(key))
        conn.execute(RESEAL_DKIM, (new, domain, selector))
        n += 1
    return n
