"""The WebhookStore verbs (store/protocols/webhooks.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

from collections.abc import Callable

from iep_appliance.domain.errors import Conflict
from iep_appliance.domain.webhooks import (
    EndpointChange,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from iep_appliance.store.sqlite import webhooks as q_webhooks
from iep_appliance.store.sqlite.store_base import StoreBase


class WebhookVerbs(StoreBase):
    async def create_webhook(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        return await self.db.write(lambda c: q_webhooks.insert_endpoint(c, endpoint))

    async def list_webhooks(
        self, tenant_id: str, limit: int, after: tuple[str, str] | None
    ) -> list[WebhookEndpoint]:
        return await self.db.read(lambda c: q_webhooks.list_endpoints(c, tenant_id, limit, after))

    async def get_webhook(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        return await self.db.read(lambda c: q_webhooks.get_endpoint(c, tenant_id, endpoint_id))

    async def update_webhook(
        self, tenant_id: str, endpoint_id: str, change: EndpointChange
    ) -> WebhookEndpoint | None:
        return await self.db.write(
            lambda c: q_webhooks.update_endpoint(c, tenant_id, endpoint_id, change)
        )

    async def delete_webhook(self, tenant_id: str, endpoint_id: str) -> bool:
        now = self._now()
        return await self.db.write(
            lambda c: q_webhooks.delete_endpoint(c, tenant_id, endpoint_id, now)
        )

    async def record_webhook_attempt(self, attempt: WebhookAttempt) -> bool:
        now = self._now()
        disabled = await self.db.write(lambda c: q_webhooks.record_attempt(c, attempt, now))
        if attempt.outcome == "retrying" and attempt.delivery.next_retry_at:
            self._notify(attempt.delivery.next_retry_at)
        return disabled

    async def cancel_webhook_job(self, job_id: int, reason: str) -> None:
        now = self._now()
        await self.db.write(lambda c: q_webhooks.cancel_job(c, job_id, reason, now))

    async def drop_webhook_job(self, job_id: int, reason: str) -> None:
        now = self._now()
        await self.db.write(lambda c: q_webhooks.drop_job(c, job_id, reason, now))

    async def list_webhook_deliveries(
        self, tenant_id: str, endpoint_id: str, limit: int, before: tuple[str, str] | None
    ) -> list[WebhookDelivery]:
        return await self.db.read(
            lambda c: q_webhooks.list_deliveries(c, tenant_id, endpoint_id, limit, before)
        )

    async def get_webhook_delivery(
        self, tenant_id: str, endpoint_id: str, delivery_id: str
    ) -> WebhookDelivery | None:
        return await self.db.read(
            lambda c: q_webhooks.get_delivery(c, tenant_id, endpoint_id, delivery_id)
        )

    async def resend_webhook_delivery(
        self, tenant_id: str, endpoint_id: str, delivery_id: str, max_attempts: int
    ) -> WebhookDelivery | None:
        now = self._now()
        found = await self.db.write(
            lambda c: q_webhooks.resend_delivery(
                c, tenant_id, endpoint_id, delivery_id, now, max_attempts
            )
        )
        if isinstance(found, str):
            raise Conflict(found, {"deliveryId": delivery_id})
        if found is not None:
            self._notify(now)
        return found

    async def reseal_webhook_secrets(self, reseal: Callable[[str, str], str]) -> int:
        return await self.db.write(lambda c: q_webhooks.reseal_secrets(c, reseal))
