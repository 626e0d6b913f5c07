"""The OperatorStore verbs (store/protocols/operators.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

import sqlite3
from datetime import datetime

from iep_appliance.domain import ids
from iep_appliance.domain.dashboard import AdminSession
from iep_appliance.domain.errors import Conflict
from iep_appliance.domain.models import AdminUser
from iep_appliance.store.sqlite import operators as q_operators
from iep_appliance.store.sqlite import sessions as q_sessions
from iep_appliance.store.sqlite import tenants as q_tenants
from iep_appliance.store.sqlite.store_base import StoreBase


class OperatorVerbs(StoreBase):
    async def create_admin_user(self, email: str, password_hash: str, role: str) -> AdminUser:
        user = AdminUser(
            id=self.new_id(),
            email=email.lower(),
            password_hash=password_hash,
            role=role,
            created_at=self._now(),
        )

        def fn(conn: sqlite3.Connection) -> AdminUser:
            if q_tenants.admin_user_by_email(conn, user.email) is not None:
                raise Conflict(f"An admin user {user.email!r} already exists")
            q_tenants.insert_admin_user(conn, user)
            return user

        return await self.db.write(fn)

    async def admin_user_by_email(self, email: str) -> AdminUser | None:
        return await self.db.read(lambda c: q_tenants.admin_user_by_email(c, email))

    async def list_admin_users(self) -> list[AdminUser]:
        return await self.db.read(q_operators.list_users)

    async def get_admin_user(self, user_id: str) -> AdminUser | None:
        return await self.db.read(lambda c: q_operators.get_user(c, user_id))

    async def set_admin_user_role(self, user_id: str, role: str) -> AdminUser | None:
        return await self.db.write(lambda c: q_operators.set_role(c, user_id, role))

    async def set_admin_user_password(self, user_id: str, password_hash: str) -> bool:
        return await self.db.write(lambda c: q_operators.set_password(c, user_id, password_hash))

    async def delete_admin_user(self, user_id: str) -> bool:
        return await self.db.write(lambda c: q_operators.delete_user(c, user_id))

    async def save_admin_session(
        self, id_hash: str, email: str, role: str, expires_at: datetime
    ) -> None:
        now, until = self._now(), ids.iso(expires_at)
        await self.db.write(lambda c: q_sessions.save(c, id_hash, email, role, until, now))

    async def admin_session(self, id_hash: str) -> AdminSession | None:
        now = self._now()
        return await self.db.read(lambda c: q_sessions.find(c, id_hash, now))

    async def drop_admin_session(self, id_hash: str) -> None:
        await self.db.write(lambda c: q_sessions.drop(c, id_hash))

    async def drop_admin_sessions_of(self, email: str) -> None:
        await self.db.write(lambda c: q_sessions.drop_of(c, email))
