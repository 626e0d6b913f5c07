"""Dashboard users (operators) and their sessions, kept by the hash of the session id."""

from datetime import datetime
from typing import Protocol

from iep_appliance.domain.dashboard import AdminSession
from iep_appliance.domain.models import (
    AdminUser,
)


class OperatorStore(Protocol):
    async def create_admin_user(self, email: str, password_hash: str, role: str) -> AdminUser:
        """Raises Conflict when the email exists."""

    async def admin_user_by_email(self, email: str) -> AdminUser | None: ...
    async def list_admin_users(self) -> list[AdminUser]:
        """Every dashboard user, by address."""

    async def get_admin_user(self, user_id: str) -> AdminUser | None: ...
    async def set_admin_user_role(self, user_id: str, role: str) -> AdminUser | None:
        """None when there is no such user; Conflict when it would leave no admin."""

    async def set_admin_user_password(self, user_id: str, password_hash: str) -> bool:
        """Replace a user's password hash; False when there is no such user."""

    async def delete_admin_user(self, user_id: str) -> bool:
        """False when there is no such user; Conflict when it is the last admin."""

    async def save_admin_session(
        self, id_hash: str, email: str, role: str, expires_at: datetime
    ) -> None:
        """Keep a new operator session (by its id's hash); expired ones are dropped."""

    async def admin_session(self, id_hash: str) -> AdminSession | None:
        """A live session, or None."""

    async def drop_admin_session(self, id_hash: str) -> None: ...
    async def drop_admin_sessions_of(self, email: str) -> None:
        """Every stored session of an operator (their role or account changed)."""
