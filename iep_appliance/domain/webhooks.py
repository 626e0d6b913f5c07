"""Webhook endpoints, events and attempts: the pure rules of DESIGN §4 "Webhook delivery".

Which events exist and how a request names them, what a delivery's body is, which secrets
sign it, which `webhook-id` it carries (the same for every retry of one event), and what
follows an attempt. No I/O and no clock: callers pass `now`.
"""

import hashlib
from collections.abc import Collection, Iterable
from typing import Annotated, Any, Literal

import msgspec

from iep_appliance.domain.compat_resend import iep_event_name
from iep_appliance.domain.errors import FieldError, ValidationFailed

EVENTS: tuple[str, ...] = (
    "message.sent",
    "message.failed",
    "message.bounced",
    "message.retrying",
    "message.complained",  # an ARF complaint came back
    "message.unsubscribed",  # one-click or mailto unsubscribe
    "tenant.paused",  # the tenant's sending was held for its reputation
)
# How an endpoint's deliveries look: IEP's own body and headers, or Resend's events signed
# with `svix-*` headers (DESIGN §10.2).
WebhookFormat = Literal["iep", "resend"]


# ---- request bodies (camelCase on the wire) -------------------------------------------------


class WebhookCreate(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(description="URL the events are POSTed to.")]
    events: Annotated[
        list[str],
        msgspec.Meta(description="Event types to send (e.g. `sent`, `failed`, `bounced`)."),
    ] = msgspec.field(default_factory=lambda: list(EVENTS))
    active: Annotated[bool, msgspec.Meta(description="Whether events are sent.")] = True
    format: Annotated[
        WebhookFormat,
        msgspec.Meta(description="Payload format: `iep` (default) or `resend` (Resend's events)."),
    ] = "iep"


class WebhookUpdate(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    """`PUT /v1/webhooks/{id}`: any subset; `rotateSecret` issues a new secret."""

    url: Annotated[str | None, msgspec.Meta(description="URL the events are POSTed to.")] = None
    events: Annotated[list[str] | None, msgspec.Meta(description="Event types to send.")] = None
    active: Annotated[
        bool | None,
        msgspec.Meta(description="Whether events are sent; true re-enables a disabled endpoint."),
    ] = None
    rotate_secret: Annotated[
        bool,
        msgspec.Meta(
            description="Issue a new signing secret; the old one stays valid for a grace period."
        ),
    ] = False


# ---- what the store keeps ---------------------------------------------------------------------


class WebhookEndpoint(msgspec.Struct, frozen=True):
    id: str
    tenant_id: str
    url: str
    events: tuple[str, ...]
    secret: str
    old_secret: str | None
    old_secret_until: str | None
    active: bool
    disabled_reason: str | None
    failing_since: str | None
    created_at: str
    updated_at: str
    format: str = "iep"


class EndpointChange(msgspec.Struct, frozen=True):
    """One update of an endpoint; None leaves a field as it is."""

    updated_at: str
    url: str | None = None
    events: tuple[str, ...] | None = None
    active: bool | None = None
    new_secret: str | None = None
    old_secret_until: str | None = None  # with new_secret: the old one signs until then


class WebhookDelivery(msgspec.Struct, frozen=True):
    """One attempt to deliver one event to one endpoint."""

    id: str
    endpoint_id: str
    tenant_id: str
    webhook_id: str
    event: str
    message_id: str | None
    attempt: int
    status_code: int | None
    latency_ms: int | None
    error: str | None
    next_retry_at: str | None
    created_at: str
    job_id: int | None = None

    @property
    def status(self) -> str:
        return delivery_status(self.status_code, self.next_retry_at)


class WebhookAttempt(msgspec.Struct, frozen=True):
    """An attempt and the job's next state, recorded in one transaction."""

    delivery: WebhookDelivery
    job_id: int
    outcome: str  # delivered | retrying | failed
    # Disable the endpoint when its current failure streak began at or before this time.
    disable_if_failing_since: str | None = None
    disabled_reason: str | None = None


class WebhookEvent(msgspec.Struct, frozen=True, rename="camel"):
    """The payload of a `webhook` job (written by `enqueue_webhooks` or a re-send)."""

    event: str
    message_id: str | None = None
    endpoint_id: str = ""
    timestamp: str = ""
    data: dict[str, Any] = {}
    webhook_id: str | None = None


# ---- rules ------------------------------------------------------------------------------------


def normalize_events(events: list[str], field: str = "events") -> tuple[str, ...]:
    """Known event names, deduplicated, in `message.*` form (`sent` means `message.sent`;
    Resend's `email.sent` means it too).

    Raises:
        ValidationFailed: naming `events` (empty) or `events[i]` (unknown).
    """
    if not events:
        raise ValidationFailed([FieldError(field, "name at least one event")])
    out: list[str] = []
    errors: list[FieldError] = []
    for i, name in enumerate(events):
        full = iep_event_name(name.strip().lower())
        if full and "." not in full:
            full = "message." + full
        if full not in EVENTS:
            errors.append(
                FieldError(f"{field}[{i}]", f"unknown event {name!r}; one of {', '.join(EVENTS)}")
            )
        elif full not in out:
            out.append(full)
    if errors:
        raise ValidationFailed(errors)
    return tuple(out)


def decode_event(payload: str | bytes | None) -> WebhookEvent:
    """Raises ValueError for a payload that is not a webhook event."""
    if not payload:
        raise ValueError("webhook job without payload")
    try:
        return msgspec.json.decode(payload, type=WebhookEvent)
    except msgspec.DecodeError as exc:
        raise ValueError(f"bad webhook job payload: {exc}") from None


def webhook_id_for(job_id: int, tenant_id: str, ev: WebhookEvent) -> str:
    """The `webhook-id` of an event: derived from its job, so every retry carries the same one;
    a re-sent delivery carries the original id in its payload."""
    if ev.webhook_id:
        return ev.webhook_id
    seed = "\x00".join(
        (tenant_id, str(job_id), ev.endpoint_id, ev.message_id or "", ev.event, ev.timestamp)
    )
    return "evt_" + hashlib.sha256(seed.encode()).hexdigest()[:32]


def body_for(tenant_id: str, ev: WebhookEvent) -> bytes:
    """`{event, messageId, tenantId, timestamp, data}`; `sandbox: true` for a sandbox message."""
    doc: dict[str, Any] = {
        "event": ev.event,
        "messageId": ev.message_id,
        "tenantId": tenant_id,
        "timestamp": ev.timestamp,
        "data": ev.data,
    }
    if ev.data.get("sandbox"):
        doc["sandbox"] = True
    return msgspec.json.encode(doc)


def signing_secrets(endpoint: WebhookEndpoint, now: str) -> list[str]:
    """The current secret, plus the previous one while its rotation grace lasts."""
    secrets = [endpoint.secret]
    if endpoint.old_secret and endpoint.old_secret_until and endpoint.old_secret_until > now:
        secrets.append(endpoint.old_secret)
    return secrets


def next_step(status_code: int | None, attempt: int, schedule: tuple[int, ...]) -> tuple[str, int]:
    """After attempt number `attempt` (1-based): ("delivered" | "retrying" | "failed", delay).

    A 2xx delivers; anything else (another status, a timeout, a network error, a refused
    address) is retried after `schedule[attempt - 1]` seconds while attempts remain.
    """
    if status_code is not None and 200 <= status_code < 300:
        return "delivered", 0
    if attempt <= len(schedule):
        return "retrying", schedule[attempt - 1]
    return "failed", 0


def delivery_status(status_code: int | None, next_retry_at: str | None) -> str:
    if status_code is not None and 200 <= status_code < 300:
        return "delivered"
    return "retrying" if next_retry_at else "failed"


# ---- fan-out: which endpoints get an event, and the job payload each gets ---------------------


def subscribed(wanted: Collection[str], event: str) -> bool:
    """Whether an endpoint subscribed to `wanted` gets `event` (an endpoint stored with a bare
    name, e.g. `sent`, gets `message.sent` too)."""
    return event in wanted or event.removeprefix("message.") in wanted


def fan_out(
    endpoints: Iterable[tuple[str, Collection[str]]],
    event: str,
    message_id: str | None,
    data: dict[str, Any],
    now: str,
) -> list[tuple[str, dict[str, Any]]]:
    """(endpoint id, webhook job payload) for each active endpoint `(id, events)` subscribed
    to `event`: `{event, messageId, endpointId, timestamp, data}` (decoded by `decode_event`)."""
    return [
        (
            endpoint_id,
            {
                "event": event,
                "messageId": message_id,
                "endpointId": endpoint_id,
                "timestamp": now,
                "data": data,
            },
        )
        for endpoint_id, wanted in endpoints
        if subscribed(wanted, event)
    ]


def resend_payload(payload: dict[str, Any], webhook_id: str, endpoint_id: str) -> dict[str, Any]:
    """A stored event sent again: the same payload carrying its original `webhook-id`."""
    return {**payload, "webhookId": webhook_id, "endpointId": endpoint_id}


def message_event_data(
    to: list[str],
    subject: str | None,
    provider: str | None,
    attempts: int,
    sandbox: bool,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The `data` of a `message.*` event about a stored message (DESIGN §4 "Webhook
    delivery"): `{to, subject, provider, attempts, …extra}`, `sandbox: true` for a sandbox
    message."""
    data: dict[str, Any] = {
        "to": to,
        "subject": subject,
        "provider": provider,
        "attempts": attempts,
        **extra,
    }
    if sandbox:
        data["sandbox"] = True
    return data
