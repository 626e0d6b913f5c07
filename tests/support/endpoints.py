"""A webhook endpoint record as the store keeps it, for tests that write one directly."""

from typing import Any

from iep_appliance.domain.webhooks import WebhookEndpoint

NOW = "2026-01-01T00:00:00.000Z"


def endpoint_record(
    endpoint_id: str,
    tenant_id: str,
    *,
    url: str = "https://hooks.example/h",
    events: tuple[str, ...] = ("sent",),
    secret: str = "whsec_" + "A" * 32,
    now: str = NOW,
    **fields: Any,
) -> WebhookEndpoint:
    """Active, never failed, no previous secret; `fields` override any other field."""
    base: dict[str, Any] = {
        "id": endpoint_id,
        "tenant_id": tenant_id,
        "url": url,
        "events": events,
        "secret": secret,
        "old_secret": None,
        "old_secret_until": None,
        "active": True,
        "disabled_reason": None,
        "failing_since": None,
        "created_at": now,
        "updated_at": now,
    }
    return WebhookEndpoint(**{**base, **fields})
