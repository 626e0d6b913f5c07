"""The built-in `outbox` provider: keeps the final MIME for preview and delivers nowhere.

The embedded default, so the appliance runs with no external service; sandbox messages
always go here. Saves join the store's group commit, so they cost no extra fsync.
"""

from collections.abc import Awaitable, Callable

from iep_appliance.delivery.providers.base import Envelope
from iep_appliance.domain.outcomes import SendOutcome

SaveFn = Callable[[str, str, bytes], Awaitable[None]]


class OutboxProvider:
    kind = "outbox"

    def __init__(self, name: str, save: SaveFn) -> None:
        self.name = name
        self._save = save

    async def send(self, envelope: Envelope, mime: bytes) -> SendOutcome:
        try:
            await self._save(envelope.tenant_id, envelope.message_id, mime)
        except Exception as exc:  # a store failure is transient: the job is retried
            return SendOutcome(provider=self.name, stage="network", network_error=f"outbox: {exc}")
        return SendOutcome(
            provider=self.name,
            accepted=envelope.rcpt_to,
            code=250,
            message="stored in outbox",
            provider_message_id=f"outbox-{envelope.message_id}",
        )

    async def check_health(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None
