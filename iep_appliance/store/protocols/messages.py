"""Messages: accepting one (with its job and first event), reading, searching,
retrying, cancelling and rescheduling it."""

from typing import Protocol

from iep_appliance.domain.models import (
    Accepted,
    MessageRecord,
    NewMessage,
    Replayed,
)
from iep_appliance.domain.search import MessageSearch


class MessageStore(Protocol):
    async def accept_message(self, tenant_id: str, msg: NewMessage) -> Accepted | Replayed:
        """Message + its job + its first event, durably, or the earlier message for a replayed
        idempotency key. Raises Conflict for a reused key with another body."""

    async def get_message(self, tenant_id: str, message_id: str) -> MessageRecord | None: ...
    async def list_messages(self, tenant_id: str, f: MessageSearch) -> list[MessageRecord]:
        """The tenant's messages matching `f` (domain/search.py), newest first, after
        `f.after`; `f.tenant_id` is replaced by `tenant_id`."""

    async def load_for_send(self, message_ids: list[str]) -> dict[str, MessageRecord]: ...
    async def retry_message(self, tenant_id: str, message_id: str) -> str | None:
        """Failed → queued with attempts reset. Returns the prior status (None: not found)."""

    async def cancel_message(self, tenant_id: str, message_id: str) -> str | None:
        """Cancel a scheduled or queued message whose job is not leased. Returns 'cancelled',
        the status that forbids it ('processing' while leased), or None when not found."""

    async def reschedule_message(
        self, tenant_id: str, message_id: str, scheduled_at: str
    ) -> str | None:
        """Move a scheduled message whose job is not leased to `scheduled_at` (message and job).
        Returns 'scheduled' when moved, the status that forbids it ('processing' while leased),
        or None when not found."""
