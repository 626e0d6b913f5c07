"""All SQL for API keys. Runs on a connection handed in by the writer or a reader."""

import sqlite3

from iep_appliance.domain.models import ApiKey
from iep_appliance.store.sqlite import rows

INSERT_KEY = (
    "INSERT INTO api_keys (id, tenant_id, name, key_prefix, key_hash, scopes, sandbox, active,"
    " expires_at, last_used_at, created_at, ip_allowlist)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, NULL, ?, ?)"
)
# The key row for a prefix (prefixes are unique).
SELECT_BY_PREFIX = f"SELECT {rows.KEY_COLUMNS} FROM api_keys WHERE key_prefix = ?"
SELECT_BY_ID = f"SELECT {rows.KEY_COLUMNS} FROM api_keys WHERE tenant_id = ? AND id = ?"
# A tenant's active keys, newest first.
SELECT_FOR_TENANT = (
    f"SELECT {rows.KEY_COLUMNS} FROM api_keys WHERE tenant_id = ? AND active = 1"
    " ORDER BY created_at DESC, id DESC"
)
REVOKE = "UPDATE api_keys SET active = 0 WHERE tenant_id = ? AND id = ? AND active = 1"
SET_EXPIRY = "UPDATE api_keys SET expires_at = ? WHERE tenant_id = ? AND id = ?"
# last_used_at is flushed in batches, never written per request.
TOUCH = (
    "UPDATE api_keys SET last_used_at = ? WHERE id = ?"
    " AND (last_used_at IS NULL OR last_used_at < ?)"
)


def insert_key(conn: sqlite3.Connection, key: ApiKey) -> ApiKey:
    conn.execute(
        INSERT_KEY,
        (
            key.id,
            key.tenant_id,
            key.name,
            key.prefix,
            key.key_hash,
            rows.dumps(list(key.scopes)),
            int(key.sandbox),
            key.expires_at,
            key.created_at,
            rows.dumps(list(key.ip_allowlist)),
        ),
    )
    return key


def key_by_prefix(conn: sqlite3.Connection, prefix: str) -> ApiKey | None:
    return rows.one(conn, SELECT_BY_PREFIX, (prefix,), rows.api_key)


def get_key(conn: sqlite3.Connection, tenant_id: str, key_id: str) -> ApiKey | None:
    return rows.one(conn, SELECT_BY_ID, (tenant_id, key_id), rows.api_key)


def list_keys(conn: sqlite3.Connection, tenant_id: str) -> list[ApiKey]:
    return [rows.api_key(r) for r in conn.execute(SELECT_FOR_TENANT, (tenant_id,))]


def revoke_key(conn: sqlite3.Connection, tenant_id: str, key_id: str) -> bool:
    return conn.execute(REVOKE, (tenant_id, key_id)).rowcount == 1


def set_expiry(conn: sqlite3.Connection, tenant_id: str, key_id: str, expires_at: str) -> bool:
    return conn.execute(SET_EXPIRY, (expires_at, tenant_id, key_id)).rowcount == 1


def touch_keys(conn: sqlite3.Connection, used: dict[str, str]) -> None:
    conn.executemany(TOUCH, [(ts, key_id, ts) for key_id, ts in used.items()])
