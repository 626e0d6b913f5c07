"""Inbound mail (bounces, complaints, unsubscribes, replies) and its effects."""

from typing import Protocol

from iep_appliance.domain.bounces import InboundEffect, InboundMail, InboundSummary


class InboundStore(Protocol):
    async def record_inbound(self, mail: InboundMail | None, effects: list[InboundEffect]) -> int:
        """Store `mail` and, in the same transaction, each effect not recorded before (event,
        bounce count or suppression, `bounced` status, webhooks). Returns how many were new."""

    async def inbound_for_message(self, tenant_id: str, message_id: str) -> list[InboundSummary]:
        """The inbound mail matched to a message (no raw bytes), oldest first."""

    async def inbound_raw(self, tenant_id: str, inbound_id: str) -> bytes | None: ...
