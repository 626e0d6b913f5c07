"""The MessageStore verbs (store/protocols/messages.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

from iep_appliance.domain.models import (
    Accepted,
    MessageRecord,
    NewMessage,
    Replayed,
)
from iep_appliance.domain.search import MessageSearch
from iep_appliance.store.sqlite import messages as q_messages
from iep_appliance.store.sqlite.store_base import StoreBase


class MessageVerbs(StoreBase):
    async def accept_message(self, tenant_id: str, msg: NewMessage) -> Accepted | Replayed:
        result = await self.db.write(lambda c: q_messages.accept_message(c, tenant_id, msg))
        if isinstance(result, Accepted):
            self._notify(msg.scheduled_at or msg.created_at)
        return result

    async def get_message(self, tenant_id: str, message_id: str) -> MessageRecord | None:
        return await self.db.read(lambda c: q_messages.get_message(c, tenant_id, message_id))

    async def list_messages(self, tenant_id: str, f: MessageSearch) -> list[MessageRecord]:
        return await self.db.read(lambda c: q_messages.list_messages(c, tenant_id, f))

    async def load_for_send(self, message_ids: list[str]) -> dict[str, MessageRecord]:
        return await self.db.read(lambda c: q_messages.load_for_send(c, message_ids))

    async def retry_message(self, tenant_id: str, message_id: str) -> str | None:
        now = self._now()
        before = await self.db.write(
            lambda c: q_messages.retry_message(c, tenant_id, message_id, now)
        )
        if before == "failed":
            self._notify(now)
        return before

    async def cancel_message(self, tenant_id: str, message_id: str) -> str | None:
        now = self._now()
        return await self.db.write(
            lambda c: q_messages.cancel_message(c, tenant_id, message_id, now)
        )

    async def reschedule_message(
        self, tenant_id: str, message_id: str, scheduled_at: str
    ) -> str | None:
        now = self._now()
        status = await self.db.write(
            lambda c: q_messages.reschedule_message(c, tenant_id, message_id, scheduled_at, now)
        )
        if status == "scheduled":
            self._notify(scheduled_at)
        return status
