"""All SQL for sender domains' DKIM keys and DNS checks. Runs on a connection handed in by the
writer or a reader; never awaits. Domain names are stored lower-cased."""

import sqlite3
from typing import Any

import msgspec

from iep_appliance.domain.sender_domains import DkimKeyRecord, DnsRecord, DomainCheck
from iep_appliance.store.sqlite import rows

KEY_COLUMNS = (
    "domain, selector, algorithm, private_key, public_key, state, created_at, activated_at"
)
# Every key of a domain, active first.
SELECT_KEYS = (
    f"SELECT {KEY_COLUMNS} FROM dkim_keys WHERE domain = ?"
    " ORDER BY state = 'active' DESC, created_at"
)
# The signing key of each domain (the signer cache loads them all at once).
SELECT_ACTIVE = f"SELECT {KEY_COLUMNS} FROM dkim_keys WHERE state = 'active'"
# Keys waiting for DNS (a rotation's 'next').
SELECT_NEXT = f"SELECT {KEY_COLUMNS} FROM dkim_keys WHERE state = 'next'"
# A new key; a rotation's key replaces a retired one under the same selector.
UPSERT_KEY = (
    f"INSERT INTO dkim_keys ({KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (domain, selector) DO UPDATE SET algorithm = excluded.algorithm,"
    " private_key = excluded.private_key, public_key = excluded.public_key,"
    " state = excluded.state, created_at = excluded.created_at,"
    " activated_at = excluded.activated_at WHERE dkim_keys.state = 'retired'"
)
HAS_KEY = "SELECT 1 FROM dkim_keys WHERE domain = ? AND state IN ('active', 'next')"
# Promote a published 'next' key: the active one retires (still published for a while).
RETIRE_ACTIVE = "UPDATE dkim_keys SET state = 'retired' WHERE domain = ? AND state = 'active'"
ACTIVATE = (
    "UPDATE dkim_keys SET state = 'active', activated_at = ?"
    " WHERE domain = ? AND selector = ? AND state = 'next'"
)
# Domains listed by any tenant that have no signing key yet (first start, CLI-made tenants).
SELECT_KEYLESS = (
    "SELECT DISTINCT d.domain FROM allowed_sender_domains d WHERE NOT EXISTS"
    " (SELECT 1 FROM dkim_keys k WHERE k.domain = d.domain AND k.state = 'active')"
)
CHECK_COLUMNS = "domain, status, records, reason, verified_at, last_checked_at"
SELECT_CHECK = f"SELECT {CHECK_COLUMNS} FROM domain_checks WHERE domain = ?"
UPSERT_CHECK = (
    f"INSERT INTO domain_checks ({CHECK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (domain) DO UPDATE SET status = excluded.status, records = excluded.records,"
    " reason = excluded.reason, verified_at = excluded.verified_at,"
    " last_checked_at = excluded.last_checked_at"
)
# Domains whose check is due: listed by some tenant, not checked since `before`.
SELECT_DUE = (
    "SELECT DISTINCT d.domain FROM allowed_sender_domains d"
    " LEFT JOIN domain_checks c ON c.domain = d.domain"
    " WHERE c.last_checked_at IS NULL OR c.last_checked_at < ? ORDER BY d.domain LIMIT ?"
)
# DNS shows the records: a tenant's pending domain becomes usable (DESIGN §10.3).
SELECT_PENDING_TENANTS = (
    "SELECT tenant_id FROM allowed_sender_domains WHERE domain = ? AND status = 'pending'"
)
MARK_VERIFIED = (
    "UPDATE allowed_sender_domains SET status = 'verified', verified = 1"
    " WHERE domain = ? AND status = 'pending'"
)
# The domain's status in one tenant's list ('pending' | 'verified'), None when not listed.
SELECT_LISTED = "SELECT status FROM allowed_sender_domains WHERE tenant_id = ? AND domain = ?"


def _key(row: tuple[Any, ...]) -> DkimKeyRecord:
    return rows.struct_of(DkimKeyRecord, row, private_key=bytes(row[3]))


def keys_of(conn: sqlite3.Connection, domain: str) -> list[DkimKeyRecord]:
    return [_key(r) for r in conn.execute(SELECT_KEYS, (domain,))]


def active_keys(conn: sqlite3.Connection) -> list[DkimKeyRecord]:
    return [_key(r) for r in conn.execute(SELECT_ACTIVE)]


def next_keys(conn: sqlite3.Connection) -> list[DkimKeyRecord]:
    return [_key(r) for r in conn.execute(SELECT_NEXT)]


def keyless_domains(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute(SELECT_KEYLESS)]


def add_key(conn: sqlite3.Connection, key: DkimKeyRecord, only_if_none: bool) -> bool:
    """Insert `key`. With `only_if_none`, nothing is written when the domain already has an
    active or next key (two processes adding the same domain keep one key)."""
    if only_if_none and conn.execute(HAS_KEY, (key.domain,)).fetchone():
        return False
    cur = conn.execute(
        UPSERT_KEY,
        (
            key.domain,
            key.selector,
            key.algorithm,
            key.private_key,
            key.public_key,
            key.state,
            key.created_at,
            key.activated_at,
        ),
    )
    return cur.rowcount == 1


def activate(conn: sqlite3.Connection, domain: str, selector: str, now: str) -> bool:
    """The `next` key under `selector` signs from now on; False when there is none."""
    exists = conn.execute(
        "SELECT 1 FROM dkim_keys WHERE domain = ? AND selector = ? AND state = 'next'",
        (domain, selector),
    ).fetchone()
    if not exists:
        return False
    conn.execute(RETIRE_ACTIVE, (domain,))
    return conn.execute(ACTIVATE, (now, domain, selector)).rowcount == 1


def get_check(conn: sqlite3.Connection, domain: str) -> DomainCheck | None:
    row = conn.execute(SELECT_CHECK, (domain,)).fetchone()
    if row is None:
        return None
    domain, status, records, reason, verified_at, checked = row
    return DomainCheck(
        domain=domain,
        status=status,
        records=msgspec.json.decode(records, type=tuple[DnsRecord, ...]),
        reason=reason,
        verified_at=verified_at,
        last_checked_at=checked,
    )


def save_check(conn: sqlite3.Connection, check: DomainCheck) -> None:
    conn.execute(
        UPSERT_CHECK,
        (
            check.domain,
            check.status,
            msgspec.json.encode(check.records).decode(),
            check.reason,
            check.verified_at,
            check.last_checked_at,
        ),
    )


def due_checks(conn: sqlite3.Connection, before: str, limit: int) -> list[str]:
    return [r[0] for r in conn.execute(SELECT_DUE, (before, limit))]


def mark_verified(conn: sqlite3.Connection, domain: str) -> list[str]:
    """Every tenant whose pending `domain` became verified."""
    tenants = [r[0] for r in conn.execute(SELECT_PENDING_TENANTS, (domain,))]
    conn.execute(MARK_VERIFIED, (domain,))
    return tenants


def listed_status(conn: sqlite3.Connection, tenant_id: str, domain: str) -> str | None:
    row = conn.execute(SELECT_LISTED, (tenant_id, domain)).fetchone()
    return None if row is None else str(row[0])
