"""All SQL of the dashboard's operator actions: dashboard users (list,
change role, delete, never leaving no admin) and a tenant's active flag. Runs on a connection
handed in by the writer or a reader; never awaits."""

import sqlite3

from iep_appliance.domain.errors import Conflict
from iep_appliance.domain.models import AdminUser, Tenant
from iep_appliance.store.sqlite.tenants import get_tenant

USER_COLUMNS = "id, email, password_hash, role, created_at"
# Every dashboard user, by address.
SELECT_USERS = f"SELECT {USER_COLUMNS} FROM admin_users ORDER BY email"
# One dashboard user by id.
SELECT_USER = f"SELECT {USER_COLUMNS} FROM admin_users WHERE id = ?"
# How many admins there are besides one user.
COUNT_OTHER_ADMINS = "SELECT count(*) FROM admin_users WHERE role = 'admin' AND id != ?"
# A user's new role.
UPDATE_ROLE = "UPDATE admin_users SET role = ? WHERE id = ?"
# Remove a user.
DELETE_USER = "DELETE FROM admin_users WHERE id = ?"
# A new password hash for one user (`iep admin-user set-password`).
UPDATE_PASSWORD = "UPDATE admin_users SET password_hash = ? WHERE id = ?"
# Deactivate or reactivate a tenant.
UPDATE_TENANT_ACTIVE = "UPDATE tenants SET active = ?, updated_at = ? WHERE id = ?"

LAST_ADMIN = "There must be at least one admin: make another user admin first"


def list_users(conn: sqlite3.Connection) -> list[AdminUser]:
    return [AdminUser(*r) for r in conn.execute(SELECT_USERS)]


def get_user(conn: sqlite3.Connection, user_id: str) -> AdminUser | None:
    row = conn.execute(SELECT_USER, (user_id,)).fetchone()
    return AdminUser(*row) if row else None


def _keeps_an_admin(conn: sqlite3.Connection, user: AdminUser) -> None:
    """Raises Conflict when `user` is the only admin."""
    if user.role == "admin" and not conn.execute(COUNT_OTHER_ADMINS, (user.id,)).fetchone()[0]:
        raise Conflict(LAST_ADMIN, {"reason": "last_admin"})


def set_role(conn: sqlite3.Connection, user_id: str, role: str) -> AdminUser | None:
    user = get_user(conn, user_id)
    if user is None:
        return None
    if role != "admin":
        _keeps_an_admin(conn, user)
    conn.execute(UPDATE_ROLE, (role, user_id))
    return get_user(conn, user_id)


def delete_user(conn: sqlite3.Connection, user_id: str) -> bool:
    user = get_user(conn, user_id)
    if user is None:
        return False
    _keeps_an_admin(conn, user)
    conn.execute(DELETE_USER, (user_id,))
    return True


def set_password(conn: sqlite3.Connection, user_id: str, password_hash: str) -> bool:
    return conn.execute(UPDATE_PASSWORD, (password_hash, user_id)).rowcount == 1


def set_tenant_active(
    conn: sqlite3.Connection, tenant_id: str, active: bool, now: str
) -> Tenant | None:
    conn.execute(UPDATE_TENANT_ACTIVE, (int(active), now, tenant_id))
    return get_tenant(conn, tenant_id)
