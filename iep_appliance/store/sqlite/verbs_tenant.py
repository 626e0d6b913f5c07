"""SqliteStore verbs of issue 6 (tenant services): webhooks, suppressions, rate windows.

Mixed into SqliteStore (store.py); SQL lives in the per-aggregate modules.
"""

from iep_appliance.domain.errors import Conflict
from iep_appliance.domain.models import (
    Suppression,
    Tenant,
    TenantSettings,
)
from iep_appliance.domain.ratelimit import WindowCount
from iep_appliance.domain.webhooks import (
    EndpointChange,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from iep_appliance.store.sqlite import rate_windows as q_rate_windows
from iep_appliance.store.sqlite import suppressions as q_suppressions
from iep_appliance.store.sqlite import tenants as q_tenants
from iep_appliance.store.sqlite import webhooks as q_webhooks
from iep_appliance.store.sqlite.store_base import StoreBase


class TenantServiceVerbs(StoreBase):
    # ---- webhooks, suppressions, rate windows (issue 6: tenant services) -----------------------
    # webhooks (endpoints, delivery attempts, re-sends):

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

    # suppressions, tenant settings, rate windows:

    async def list_suppressions(
        self, tenant_id: str, search: str | None, after: str, limit: int
    ) -> list[Suppression]:
        return await self.db.read(
            lambda c: q_suppressions.list_page(c, tenant_id, search, after, limit)
        )

    async def add_suppressions(
        self, tenant_id: str, emails: list[str], reason: str
    ) -> list[Suppression]:
        now = self._now()
        return await self.db.write(lambda c: q_suppressions.add(c, tenant_id, emails, reason, now))

    async def remove_suppression(self, tenant_id: str, email: str) -> bool:
        return await self.db.write(lambda c: q_suppressions.remove(c, tenant_id, email))

    async def patch_tenant(
        self, tenant_id: str, name: str, settings: TenantSettings
    ) -> Tenant | None:
        now = self._now()
        return await self.db.write(
            lambda c: q_tenants.patch_tenant(c, tenant_id, name, settings, now)
        )

    async def load_rate_windows(self, starts: dict[str, str]) -> list[WindowCount]:
        return await self.db.read(lambda c: q_rate_windows.current(c, starts))

    async def add_rate_counts(
        self, deltas: dict[tuple[str, str, str], int], purge_before: dict[str, str]
    ) -> None:
        await self.db.write(lambda c: q_rate_windows.add(c, deltas, purge_before))
