"""Durable operator sessions for /admin: a restart does not sign operators out.

The session id (the cookie's value) is a random 256-bit token; the database keeps only its
SHA-256, and the CSRF token is derived from the id, so a copy of the database holds neither.
A session loaded from the database (after a restart) is checked against the operator's
current account: a removed operator or a changed role ends it.
"""

import hashlib
import hmac
from datetime import datetime

from iep_appliance.domain import ids
from iep_appliance.store.base import Store


def id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_of(session_id: str) -> str:
    """The session's CSRF token: a MAC of a fixed label under the (secret) session id."""
    return hmac.new(session_id.encode(), b"iep-admin-csrf", hashlib.sha256).hexdigest()[:32]


class SessionRecords:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def save(self, session_id: str, email: str, role: str, expires: datetime) -> None:
        await self.store.save_admin_session(id_hash(session_id), email, role, expires)

    async def find(self, session_id: str) -> tuple[str, str, datetime] | None:
        """(email, role, expiry) of a live session whose operator still has that role."""
        found = await self.store.admin_session(id_hash(session_id))
        if found is None:
            return None
        user = await self.store.admin_user_by_email(found.email)
        if user is None or user.role != found.role:
            await self.drop(session_id)
            return None
        return found.email, found.role, ids.parse_iso(found.expires_at)

    async def drop(self, session_id: str) -> None:
        await self.store.drop_admin_session(id_hash(session_id))

    async def drop_all_of(self, email: str) -> None:
        await self.store.drop_admin_sessions_of(email)
