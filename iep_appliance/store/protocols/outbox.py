"""The outbox: the MIME copy of sent messages (a tenant's own, and the operator's view)."""

from typing import Protocol

from iep_appliance.domain.outbox import OutboxEntry, OutboxFilter


class OutboxStore(Protocol):
    async def save_outbox(self, tenant_id: str, message_id: str, mime: bytes) -> None: ...
    async def get_outbox(self, tenant_id: str, message_id: str) -> bytes | None: ...
    async def tenant_outbox(self, tenant_id: str, f: OutboxFilter) -> list[OutboxEntry]:
        """The tenant's outbox, newest first, filtered (GET /v1/outbox)."""

    async def clear_outbox(self, tenant_id: str) -> int:
        """Delete the tenant's outbox copies (their messages stay). Returns how many."""
