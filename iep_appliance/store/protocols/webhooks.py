"""Webhook endpoints, their delivery attempts and re-sends."""

from collections.abc import Callable
from typing import Protocol

from iep_appliance.domain.webhooks import (
    EndpointChange,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


class WebhookStore(Protocol):
    async def create_webhook(self, endpoint: WebhookEndpoint) -> WebhookEndpoint: ...
    async def list_webhooks(
        self, tenant_id: str, limit: int, after: tuple[str, str] | None
    ) -> list[WebhookEndpoint]:
        """Oldest first, after the (created_at, id) of the last one seen."""

    async def get_webhook(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None: ...
    async def update_webhook(
        self, tenant_id: str, endpoint_id: str, change: EndpointChange
    ) -> WebhookEndpoint | None:
        """Apply `change` (a new secret keeps the old one until `old_secret_until`)."""

    async def delete_webhook(self, tenant_id: str, endpoint_id: str) -> bool:
        """Delete the endpoint and its attempts; its unclaimed (and dead-lettered) events
        are cancelled: done with "endpoint deleted", never in the DLQ."""

    async def record_webhook_attempt(self, attempt: WebhookAttempt) -> bool:
        """One attempt + its job's next state (done, retry at next_retry_at, dead) + the
        endpoint's health, in one commit. True when this attempt disabled the endpoint."""

    async def cancel_webhook_job(self, job_id: int, reason: str) -> None:
        """A claimed webhook job whose endpoint was deleted: done with `reason`, not dead."""

    async def drop_webhook_job(self, job_id: int, reason: str) -> None:
        """A webhook job whose endpoint is inactive: dead, no attempt recorded."""

    async def list_webhook_deliveries(
        self, tenant_id: str, endpoint_id: str, limit: int, before: tuple[str, str] | None
    ) -> list[WebhookDelivery]:
        """Newest first, before the (created_at, id) of the last one seen."""

    async def get_webhook_delivery(
        self, tenant_id: str, endpoint_id: str, delivery_id: str
    ) -> WebhookDelivery | None: ...
    async def resend_webhook_delivery(
        self, tenant_id: str, endpoint_id: str, delivery_id: str, max_attempts: int
    ) -> WebhookDelivery | None:
        """Enqueue the delivery's event again with the same `webhook-id`. None when there is
        no such delivery; raises Conflict when its event is no longer stored."""

    async def reseal_webhook_secrets(self, reseal: Callable[[str, str], str]) -> int:
        """Rewrite every endpoint's stored secret (and previous secret) as
        `reseal(context, stored) -> stored` (context `webhook:<tenant>:<endpoint>`), in one
        transaction; returns how many values changed."""
