"""Store verbs of provider events (deduplicated) and tenant providers."""

from collections.abc import Callable
from typing import Protocol

from iep_appliance.domain.bounces import InboundEffect
from iep_appliance.domain.tenant_providers import TenantProviderRecord


class ProviderEventStore(Protocol):
    async def record_provider_event(
        self,
        provider: str,
        event_id: str,
        kind: str,
        tenant_id: str | None,
        message_id: str | None,
        provider_message_id: str | None,
        payload: bytes,
        effects: list[InboundEffect],
    ) -> int | None:
        """Keep the event once per (provider, event id) and apply its effects in the same
        transaction (as `record_inbound` does). None when the event was recorded before
        (nothing changes); else how many effects were new."""

    async def use_webhook_token(self, provider: str, token: str) -> bool:
        """Remember a signed webhook's one-time token; False when it was seen before."""

    async def provider_events_for_message(self, message_id: str) -> list[dict[str, object]]:
        """The provider events matched to a message: provider, eventId, type, receivedAt."""

    async def purge_provider_events(
        self, events_before: str, tokens_before: str, limit: int
    ) -> int:
        """Delete up to `limit` events received before `events_before` and up to `limit`
        webhook tokens seen before `tokens_before`; returns how many rows went."""


class TenantProviderStore(Protocol):
    async def list_tenant_providers(self, tenant_id: str) -> list[TenantProviderRecord]: ...
    async def all_tenant_providers(self) -> list[TenantProviderRecord]:
        """Every tenant's providers (the delivery engine builds them at start)."""

    async def get_tenant_provider(
        self, tenant_id: str, provider_id: str
    ) -> TenantProviderRecord | None: ...
    async def create_tenant_provider(self, record: TenantProviderRecord) -> None:
        """Raises Conflict when the tenant has a provider of that name."""

    async def update_tenant_provider(self, record: TenantProviderRecord) -> bool:
        """Replace name/settings/secret of (tenant, id); False when there is none. Raises
        Conflict on a name the tenant uses for another provider."""

    async def delete_tenant_provider(self, tenant_id: str, provider_id: str) -> bool: ...
    async def reseal_secrets(
        self,
        reseal: Callable[[str, bytes], bytes],
        reseal_text: Callable[[str, str], str],
    ) -> int:
        """Re-encrypt every secret at rest in one transaction: tenant provider secrets and
        DKIM private keys as `reseal(context, sealed) -> sealed`, webhook signing secrets
        (stored as text) as `reseal_text(context, stored) -> stored`. Returns how many."""
