"""Batches: many messages accepted in one transaction."""

from typing import Protocol

from iep_appliance.domain.models import (
    BatchAccepted,
    BatchRecord,
    BatchReplayed,
    NewBatch,
    NewMessage,
)


class BatchStore(Protocol):
    async def accept_batch(
        self, tenant_id: str, batch: NewBatch, messages: list[NewMessage]
    ) -> BatchAccepted | BatchReplayed:
        """The batch and all its messages (each with job and event) in one transaction, or the
        earlier batch for a replayed key. Raises Conflict for a reused key with another body
        or a draining queue, ValidationFailed for a queue deleted meanwhile."""

    async def get_batch(self, tenant_id: str, batch_id: str) -> BatchRecord | None:
        """The batch with its messages counted by status."""

    async def cancel_batch(self, tenant_id: str, batch_id: str) -> int | None:
        """Cancel the batch's messages that have not started; how many (None: no batch)."""
