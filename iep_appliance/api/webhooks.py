"""/v1/webhooks (admin): endpoints, their delivery attempts and re-sends. Thin: the rules are
in services/webhooks.py and domain/webhooks.py. The secret is in a response only at creation
and after `rotateSecret`; lists and reads never carry it."""

from typing import Annotated

import msgspec
from litestar.params import FromPath, JSONBody

from iep_appliance.api.fields import CreatedAt, ItsId, UpdatedAt
from iep_appliance.api.inject import Injected
from iep_appliance.api.pages import NextCursor, PageItems, Paging
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.domain.webhooks import (
    WebhookCreate,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookUpdate,
)
from iep_appliance.services.webhooks import WebhookService

routes = Routes(tag="webhooks", scope="admin")


class WebhookView(msgspec.Struct, frozen=True, rename="camel"):
    id: ItsId
    url: Annotated[str, msgspec.Meta(description="URL the events are POSTed to.")]
    events: Annotated[list[str], msgspec.Meta(description="Event types sent.")]
    active: Annotated[bool, msgspec.Meta(description="Whether events are sent.")]
    disabled_reason: Annotated[
        str | None, msgspec.Meta(description="Why the appliance disabled it; null when it did not.")
    ]
    failing_since: Annotated[
        str | None,
        msgspec.Meta(description="When deliveries started failing (ISO 8601); null when healthy."),
    ]
    previous_secret_expires_at: Annotated[
        str | None,
        msgspec.Meta(description="Until when the previous secret still signs (ISO 8601)."),
    ]
    created_at: CreatedAt
    updated_at: UpdatedAt
    format: Annotated[
        str, msgspec.Meta(description="Payload format: `iep` or `resend` (svix-* headers).")
    ] = "iep"
    secret: Annotated[
        str | msgspec.UnsetType,
        msgspec.Meta(description="Signing secret; shown only when created or rotated."),
    ] = msgspec.UNSET


class WebhookList(msgspec.Struct, frozen=True, rename="camel"):
    data: PageItems[WebhookView]
    next_cursor: NextCursor


class DeliveryView(msgspec.Struct, frozen=True, rename="camel"):
    id: Annotated[str, msgspec.Meta(description="The delivery attempt's id.")]
    webhook_id: Annotated[
        str, msgspec.Meta(description="The endpoint's id (as in /v1/webhooks/{id}).")
    ]
    event_id: Annotated[
        str,
        msgspec.Meta(
            description="The event's id: the `webhook-id` header, the same on every retry."
        ),
    ]
    event: Annotated[str, msgspec.Meta(description="The event type posted.")]
    message_id: Annotated[
        str | None, msgspec.Meta(description="The message the event is about; null for none.")
    ]
    attempt: Annotated[int, msgspec.Meta(description="Attempt number, from 1.")]
    status: Annotated[
        str, msgspec.Meta(description="`delivered`, `retrying` or `failed`.")
    ]  # delivered | retrying | failed
    status_code: Annotated[
        int | None, msgspec.Meta(description="HTTP status the endpoint answered; null when none.")
    ]
    latency_ms: Annotated[
        int | None, msgspec.Meta(description="How long the endpoint took, in milliseconds.")
    ]
    error: Annotated[
        str | None, msgspec.Meta(description="Why the attempt failed; null when it did not.")
    ]
    next_retry_at: Annotated[
        str | None, msgspec.Meta(description="When it is tried again (ISO 8601); null when not.")
    ]
    created_at: CreatedAt


class DeliveryList(msgspec.Struct, frozen=True, rename="camel"):
    data: PageItems[DeliveryView]
    next_cursor: NextCursor


class ResendView(msgspec.Struct, frozen=True, rename="camel"):
    delivery_id: Annotated[str, msgspec.Meta(description="The new delivery attempt's id.")]
    webhook_id: Annotated[str, msgspec.Meta(description="The endpoint's id.")]
    event_id: Annotated[str, msgspec.Meta(description="The event's id (the `webhook-id` header).")]
    event: Annotated[str, msgspec.Meta(description="The event re-sent.")]
    message_id: Annotated[
        str | None, msgspec.Meta(description="The message the event is about; null for none.")
    ]
    status: Annotated[str, msgspec.Meta(description="`queued`: the event will be posted again.")]


def view(e: WebhookEndpoint, secret: str | None = None) -> WebhookView:
    grace = e.old_secret_until if e.old_secret else None
    return WebhookView(
        id=e.id,
        url=e.url,
        events=list(e.events),
        active=e.active,
        disabled_reason=e.disabled_reason,
        failing_since=e.failing_since,
        previous_secret_expires_at=grace,
        created_at=e.created_at,
        updated_at=e.updated_at,
        format=e.format,
        secret=secret if secret is not None else msgspec.UNSET,
    )


def delivery_view(d: WebhookDelivery) -> DeliveryView:
    return DeliveryView(
        id=d.id,
        webhook_id=d.endpoint_id,
        event_id=d.webhook_id,
        event=d.event,
        message_id=d.message_id,
        attempt=d.attempt,
        status=d.status,
        status_code=d.status_code,
        latency_ms=d.latency_ms,
        error=d.error,
        next_retry_at=d.next_retry_at,
        created_at=d.created_at,
    )


@routes.post(
    "/v1/webhooks",
    status_code=201,
    summary="Register a webhook endpoint (the secret is shown once)",
    description="Body `{url, events, active?}`. Events: message.sent, message.failed, "
    "message.bounced, message.retrying. URLs on private, loopback, link-local, CGNAT or "
    "metadata addresses are refused (422 naming `url`) unless the operator allows them.",
)
async def create_webhook(
    webhooks: Injected[WebhookService], principal: Caller, data: JSONBody[WebhookCreate]
) -> WebhookView:
    created = await webhooks.create(principal.tenant_id, data)
    return view(created, secret=created.secret)


@routes.get("/v1/webhooks", summary="List webhook endpoints (never their secrets)")
async def list_webhooks(
    webhooks: Injected[WebhookService],
    principal: Caller,
    page: Paging,
) -> WebhookList:
    items, nxt = await webhooks.list_endpoints(principal.tenant_id, page.limit, page.cursor)
    return WebhookList(data=[view(e) for e in items], next_cursor=nxt)


@routes.get("/v1/webhooks/{webhook_id:str}", summary="One webhook endpoint")
async def get_webhook(
    webhooks: Injected[WebhookService], principal: Caller, webhook_id: FromPath[str]
) -> WebhookView:
    return view(await webhooks.get(principal.tenant_id, webhook_id))


@routes.put(
    "/v1/webhooks/{webhook_id:str}",
    status_code=200,
    summary="Update a webhook endpoint (url, events, active, rotateSecret)",
    description="Any subset of `{url, events, active, rotateSecret}`. `rotateSecret: true` "
    "returns a new secret once; the previous one keeps signing for the rotation grace.",
)
async def update_webhook(
    webhooks: Injected[WebhookService],
    principal: Caller,
    webhook_id: FromPath[str],
    data: JSONBody[WebhookUpdate],
) -> WebhookView:
    updated, secret = await webhooks.update(principal.tenant_id, webhook_id, data)
    return view(updated, secret=secret)


@routes.delete(
    "/v1/webhooks/{webhook_id:str}", status_code=204, summary="Delete a webhook endpoint"
)
async def delete_webhook(
    webhooks: Injected[WebhookService], principal: Caller, webhook_id: FromPath[str]
) -> None:
    await webhooks.delete(principal.tenant_id, webhook_id)


@routes.get(
    "/v1/webhooks/{webhook_id:str}/deliveries",
    summary="Delivery attempts of an endpoint, newest first",
)
async def list_deliveries(
    webhooks: Injected[WebhookService],
    principal: Caller,
    webhook_id: FromPath[str],
    page: Paging,
) -> DeliveryList:
    items, nxt = await webhooks.deliveries(principal.tenant_id, webhook_id, page.limit, page.cursor)
    return DeliveryList(data=[delivery_view(d) for d in items], next_cursor=nxt)


@routes.get(
    "/v1/webhooks/{webhook_id:str}/deliveries/{delivery_id:str}", summary="One delivery attempt"
)
async def get_delivery(
    webhooks: Injected[WebhookService],
    principal: Caller,
    webhook_id: FromPath[str],
    delivery_id: FromPath[str],
) -> DeliveryView:
    found = await webhooks.delivery(principal.tenant_id, webhook_id, delivery_id)
    return delivery_view(found)


@routes.post(
    "/v1/webhooks/{webhook_id:str}/deliveries/{delivery_id:str}/retry",
    status_code=202,
    summary="Send a delivery's event again (same webhook-id)",
)
async def resend_delivery(
    webhooks: Injected[WebhookService],
    principal: Caller,
    webhook_id: FromPath[str],
    delivery_id: FromPath[str],
) -> ResendView:
    found = await webhooks.resend(principal.tenant_id, webhook_id, delivery_id)
    return ResendView(
        delivery_id=found.id,
        webhook_id=found.endpoint_id,
        event_id=found.webhook_id,
        event=found.event,
        message_id=found.message_id,
        status="queued",
    )


HANDLERS = [
    create_webhook,
    list_webhooks,
    get_webhook,
    update_webhook,
    delete_webhook,
    list_deliveries,
    get_delivery,
    resend_delivery,
]
