"""Webhook endpoints: the use cases behind /v1/webhooks.

Create, read, update (with secret rotation), delete, list attempts and re-send one. A secret
comes from the clock's CSPRNG, is shown once (at creation or rotation) and never listed; it
is stored sealed under the master key (services/webhook_secrets.py).
The SSRF check of a URL (`webhooks/guard.py`) is handed in, so this layer does no I/O itself.
"""

from collections.abc import Awaitable, Callable
from datetime import timedelta

import msgspec

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.cursors import decode_cursor, encode_cursor
from iep_appliance.domain.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
    or_not_found,
)
from iep_appliance.domain.netaddr import UrlRefused
from iep_appliance.domain.signing import make_secret
from iep_appliance.domain.webhooks import (
    EndpointChange,
    WebhookCreate,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookUpdate,
    normalize_events,
)
from iep_appliance.services.webhook_secrets import WebhookSecrets
from iep_appliance.store.base import Store

CheckUrl = Callable[[str], Awaitable[None]]
"""Raises UrlRefused for a URL the guard will not call."""


class WebhookService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        check_url: CheckUrl,
        rotation_grace_seconds: int,
        max_attempts: int,
        secrets: WebhookSecrets,
    ) -> None:
        self.store = store
        self.secrets = secrets
        self.clock = clock
        self.check_url = check_url
        self.rotation_grace = timedelta(seconds=rotation_grace_seconds)
        self.max_attempts = max_attempts

    async def create(self, tenant_id: str, req: WebhookCreate) -> WebhookEndpoint:
        """The new endpoint; its `secret` is for the creator's eyes only."""
        url, events = await self._validate(req.url, req.events)
        assert url is not None and events is not None
        now = ids.iso(self.clock.now())
        endpoint_id = self.clock.new_id()
        secret = self._new_secret()
        created = await self.store.create_webhook(
            WebhookEndpoint(
                id=endpoint_id,
                tenant_id=tenant_id,
                url=url,
                events=events,
                secret=self.secrets.seal(tenant_id, endpoint_id, secret),
                old_secret=None,
                old_secret_until=None,
                active=req.active,
                disabled_reason=None,
                failing_since=None,
                created_at=now,
                updated_at=now,
                format=req.format,
            )
        )
        return msgspec.structs.replace(created, secret=secret)  # shown once, never stored

    async def list_endpoints(
        self, tenant_id: str, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[WebhookEndpoint], str | None]:
        after = _page(limit, cursor)
        items = await self.store.list_webhooks(tenant_id, limit, after)
        nxt = encode_cursor(items[-1].created_at, items[-1].id) if len(items) == limit else None
        return items, nxt

    async def get(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
        return or_not_found(
            await self.store.get_webhook(tenant_id, endpoint_id), "Webhook endpoint not found"
        )

    async def update(
        self, tenant_id: str, endpoint_id: str, req: WebhookUpdate
    ) -> tuple[WebhookEndpoint, str | None]:
        """(endpoint, new secret or None). With `rotateSecret` the old secret keeps signing
        for `webhooks.rotation_grace_seconds`."""
        await self.get(tenant_id, endpoint_id)
        url, events = await self._validate(req.url, req.events)
        now = self.clock.now()
        secret = self._new_secret() if req.rotate_secret else None
        change = EndpointChange(
            updated_at=ids.iso(now),
            url=url,
            events=events,
            active=req.active,
            new_secret=self.secrets.seal(tenant_id, endpoint_id, secret) if secret else None,
            old_secret_until=ids.iso(now + self.rotation_grace) if secret else None,
        )
        updated = or_not_found(
            await self.store.update_webhook(tenant_id, endpoint_id, change),
            "Webhook endpoint not found",
        )
        return updated, secret

    async def delete(self, tenant_id: str, endpoint_id: str) -> None:
        if not await self.store.delete_webhook(tenant_id, endpoint_id):
            raise NotFound("Webhook endpoint not found")

    async def deliveries(
        self, tenant_id: str, endpoint_id: str, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[WebhookDelivery], str | None]:
        before = _page(limit, cursor)
        await self.get(tenant_id, endpoint_id)
        items = await self.store.list_webhook_deliveries(tenant_id, endpoint_id, limit, before)
        nxt = encode_cursor(items[-1].created_at, items[-1].id) if len(items) == limit else None
        return items, nxt

    async def delivery(self, tenant_id: str, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        return or_not_found(
            await self.store.get_webhook_delivery(tenant_id, endpoint_id, delivery_id),
            "Webhook delivery not found",
        )

    async def resend(self, tenant_id: str, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        """Queue the delivery's event again, with the same `webhook-id`."""
        endpoint = await self.get(tenant_id, endpoint_id)
        if not endpoint.active:
            raise Conflict(
                "The endpoint is disabled; enable it before re-sending",
                {"endpointId": endpoint_id, "disabledReason": endpoint.disabled_reason},
            )
        found = await self.store.resend_webhook_delivery(
            tenant_id, endpoint_id, delivery_id, self.max_attempts
        )
        if found is None:
            raise NotFound("Webhook delivery not found")
        return found

    # ---- rules -------------------------------------------------------------------------------

    async def _validate(
        self, url: str | None, events: list[str] | None
    ) -> tuple[str | None, tuple[str, ...] | None]:
        errors: list[FieldError] = []
        clean_events = None
        if events is not None:
            try:
                clean_events = normalize_events(events)
            except ValidationFailed as exc:
                errors.extend(exc.errors)
        clean_url = None
        if url is not None:
            clean_url = url.strip()
            try:
                await self.check_url(clean_url)
            except UrlRefused as exc:
                errors.append(FieldError("url", str(exc)))
        if errors:
            raise ValidationFailed(errors)
        return clean_url, clean_events

    async def seal_stored(self) -> int:
        """At start: seal the secrets stored in plaintext before they were sealed at rest."""
        return await self.secrets.seal_stored(self.store)

    def _new_secret(self) -> str:
        return make_secret(self.clock.random(32))


def _page(limit: int, cursor: str | None) -> tuple[str, str] | None:
    if not 1 <= limit <= 200:
        raise ValidationFailed([FieldError("limit", "must be between 1 and 200")])
    if not cursor:
        return None
    created_at, item_id = decode_cursor(cursor)
    return created_at, item_id
