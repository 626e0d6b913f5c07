"""All SQL for tenants, their sender domains and dashboard admin users. Runs on a connection
handed in by the writer or a reader; never awaits."""

import sqlite3

from iep_appliance.domain.models import AdminUser, SenderDomain, Tenant, TenantSettings
from iep_appliance.domain.sender_domains import DomainClaim
from iep_appliance.store.sqlite import rows

# Insert one tenant.
INSERT_TENANT = (
    "INSERT INTO tenants (id, slug, name, settings, active, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, 1, ?, ?)"
)
# One tenant by id / by slug.
SELECT_TENANT = f"SELECT {rows.TENANT_COLUMNS} FROM tenants WHERE id = ?"
SELECT_TENANT_BY_SLUG = f"SELECT {rows.TENANT_COLUMNS} FROM tenants WHERE slug = ?"
# Every tenant, oldest first.
SELECT_TENANTS = f"SELECT {rows.TENANT_COLUMNS} FROM tenants ORDER BY created_at, id"
# Replace a tenant's settings JSON.
UPDATE_SETTINGS = "UPDATE tenants SET settings = ?, updated_at = ? WHERE id = ?"
# PATCH /v1/tenant: name and settings together.
UPDATE_NAME_SETTINGS = "UPDATE tenants SET name = ?, settings = ?, updated_at = ? WHERE id = ?"
# Allow-listed sender domains.
# Assigned by the operator (CLI, dashboard, first start): usable at once.
INSERT_DOMAIN = (
    "INSERT OR IGNORE INTO allowed_sender_domains"
    " (tenant_id, domain, verified, status, created_at) VALUES (?, ?, 1, 'verified', ?)"
)
# Added by the tenant through the API: pending until verified (DESIGN §4.1, §10.3).
INSERT_PENDING_DOMAIN = (
    "INSERT OR IGNORE INTO allowed_sender_domains"
    " (tenant_id, domain, verified, status, created_at) VALUES (?, ?, 0, 'pending', ?)"
)
# Does a tenant other than this one list the domain?
SELECT_DOMAIN_ELSEWHERE = (
    "SELECT 1 FROM allowed_sender_domains WHERE domain = ? AND tenant_id != ? LIMIT 1"
)
SELECT_DOMAINS = (
    "SELECT domain, status, created_at FROM allowed_sender_domains WHERE tenant_id = ?"
    " ORDER BY domain"
)
DELETE_DOMAIN = "DELETE FROM allowed_sender_domains WHERE tenant_id = ? AND domain = ?"
# Is this a fresh install (no tenant and no admin user)?
SELECT_IS_FRESH = (
    "SELECT NOT EXISTS (SELECT 1 FROM tenants) AND NOT EXISTS (SELECT 1 FROM admin_users)"
)
INSERT_ADMIN = (
    "INSERT INTO admin_users (id, email, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?)"
)
SELECT_ADMIN_BY_EMAIL = (
    "SELECT id, email, password_hash, role, created_at FROM admin_users WHERE email = ?"
)


def insert_tenant(
    conn: sqlite3.Connection,
    tenant_id: str,
    slug: str,
    name: str,
    settings: TenantSettings,
    domains: list[str],
    now: str,
) -> Tenant:
    conn.execute(INSERT_TENANT, (tenant_id, slug, name, rows.dumps(settings), now, now))
    conn.executemany(INSERT_DOMAIN, [(tenant_id, d.lower(), now) for d in domains])
    return rows.tenant(conn.execute(SELECT_TENANT, (tenant_id,)).fetchone())


def get_tenant(conn: sqlite3.Connection, tenant_id: str) -> Tenant | None:
    return rows.one(conn, SELECT_TENANT, (tenant_id,), rows.tenant)


def get_tenant_by_slug(conn: sqlite3.Connection, slug: str) -> Tenant | None:
    return rows.one(conn, SELECT_TENANT_BY_SLUG, (slug,), rows.tenant)


def list_tenants(conn: sqlite3.Connection) -> list[Tenant]:
    return [rows.tenant(r) for r in conn.execute(SELECT_TENANTS)]


def update_settings(
    conn: sqlite3.Connection, tenant_id: str, settings: TenantSettings, now: str
) -> Tenant | None:
    conn.execute(UPDATE_SETTINGS, (rows.dumps(settings), now, tenant_id))
    return get_tenant(conn, tenant_id)


def patch_tenant(
    conn: sqlite3.Connection, tenant_id: str, name: str, settings: TenantSettings, now: str
) -> Tenant | None:
    conn.execute(UPDATE_NAME_SETTINGS, (name, rows.dumps(settings), now, tenant_id))
    return get_tenant(conn, tenant_id)


def list_domains(conn: sqlite3.Connection, tenant_id: str) -> list[SenderDomain]:
    return [
        SenderDomain(domain=d, status="pending" if s == "pending" else "verified", created_at=c)
        for d, s, c in conn.execute(SELECT_DOMAINS, (tenant_id,))
    ]


def add_domain(conn: sqlite3.Connection, tenant_id: str, domain: str, now: str) -> bool:
    return conn.execute(INSERT_DOMAIN, (tenant_id, domain.lower(), now)).rowcount == 1


def claim_domain(conn: sqlite3.Connection, tenant_id: str, domain: str, now: str) -> DomainClaim:
    """Add a pending domain unless another tenant lists it: "added", "listed" or "taken"."""
    domain = domain.lower()
    if conn.execute(SELECT_DOMAIN_ELSEWHERE, (domain, tenant_id)).fetchone() is not None:
        return "taken"
    added = conn.execute(INSERT_PENDING_DOMAIN, (tenant_id, domain, now)).rowcount == 1
    return "added" if added else "listed"


def remove_domain(conn: sqlite3.Connection, tenant_id: str, domain: str) -> bool:
    return conn.execute(DELETE_DOMAIN, (tenant_id, domain.lower())).rowcount == 1


def is_fresh(conn: sqlite3.Connection) -> bool:
    return bool(conn.execute(SELECT_IS_FRESH).fetchone()[0])


def insert_admin_user(conn: sqlite3.Connection, user: AdminUser) -> None:
    conn.execute(
        INSERT_ADMIN, (user.id, user.email, user.password_hash, user.role, user.created_at)
    )


def admin_user_by_email(conn: sqlite3.Connection, email: str) -> AdminUser | None:
    row = conn.execute(SELECT_ADMIN_BY_EMAIL, (email.lower(),)).fetchone()
    return AdminUser(*row) if row else None
