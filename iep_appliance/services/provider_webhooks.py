"""Provider event webhooks (DESIGN §10.4): `POST /webhooks/{ses|sendgrid|mailgun}[/{name}]`.

Steps: find the provider the URL names (several of one type need the name) → verify the
provider's signature (`provider_signatures`; a failure is 401 and nothing is recorded; an SNS
SubscriptionConfirmation, once verified, is confirmed by GETting its SubscribeURL) → read the
events (`domain.provider_events`) → for each: find the IEP message it names, its effects
through the same rules as inbound bounces, and keep it once per (provider, event id) with its
effects in one transaction. An event for an unknown message is kept and matches nothing.
"""

import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import msgspec

from iep_appliance.domain.bounces import InboundEffect
from iep_appliance.domain.errors import BadRequest, FieldError, NotFound, Unauthorized
from iep_appliance.domain.models import MessageRecord
from iep_appliance.domain.provider_events import (
    MAX_PAYLOAD,
    ProviderEvent,
    effects_of,
    mailgun_events,
    sendgrid_events,
    ses_events,
)
from iep_appliance.logs import event
from iep_appliance.services.provider_signatures import (
    SnsVerifier,
    Unverified,
    verify_mailgun,
    verify_sendgrid,
)
from iep_appliance.store.base import Store

log = logging.getLogger("iep.provider_events")
WEBHOOK_TYPES = ("ses", "sendgrid", "mailgun")
DEFAULT_SNS_PATTERN = r"^https://sns\.[a-z0-9-]+\.amazonaws\.com/"


class WebhookSource(msgspec.Struct, frozen=True, kw_only=True):
    """What verifies one provider's events (from `[providers.NAME]` or a tenant provider)."""

    name: str  # the provider's name: the dedupe key's first half, and in the event data
    type: str  # ses | sendgrid | mailgun
    sns_cert_url_pattern: str = DEFAULT_SNS_PATTERN
    sendgrid_public_key: str = ""
    mailgun_signing_key: str = ""
    tenant_id: str | None = None  # a tenant's own provider reports on that tenant's mail only


def _bad(detail: str) -> BadRequest:
    return BadRequest([FieldError("body", detail)], detail)


async def _http_get(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=10, follow_redirects=False, trust_env=False) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.content


class ProviderEventsService:
    def __init__(
        self,
        store: Store,
        sources: Callable[[], Awaitable[list[WebhookSource]]],
        *,
        hard_bounces: int,
        fetch: Callable[[str], Awaitable[bytes]] = _http_get,
        wall_clock: Callable[[], float] = time.time,
        on_effects: Callable[[list[InboundEffect]], None] | None = None,
    ) -> None:
        self.store = store
        self.sources = sources
        self.hard_bounces = hard_bounces
        self._fetch = fetch
        self._sns = SnsVerifier(fetch)
        self._now = wall_clock
        self.on_effects = on_effects

    async def source(self, kind: str, name: str | None) -> WebhookSource:
        if kind not in WEBHOOK_TYPES:
            raise NotFound(f"no provider event webhook for {kind!r}")
        found = [s for s in await self.sources() if s.type == kind]
        if name is not None:
            found = [s for s in found if s.name == name]
            if not found:
                raise NotFound(f"no {kind} provider named {name!r}")
        else:  # a tenant's own provider is always named (by its id)
            found = [s for s in found if s.tenant_id is None]
        if not found:
            raise NotFound(f"no {kind} provider is configured")
        if len(found) > 1:
            names = ", ".join(sorted(s.name for s in found))
            raise NotFound(f"several {kind} providers ({names}): use /webhooks/{kind}/NAME")
        return found[0]

    async def receive(
        self, kind: str, name: str | None, headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        src = await self.source(kind, name)
        try:
            doc = msgspec.json.decode(body) if body else None
        except msgspec.DecodeError:
            raise _bad("the body is not JSON") from None
        try:
            events = await self._verified_events(src, doc, headers, body)
        except Unverified as exc:
            event(log, "provider_event.refused", provider=src.name, reason=str(exc))
            raise Unauthorized(f"event not verified: {exc}") from None
        if events is None:  # a confirmed SNS subscription
            return {"confirmed": True}
        counts = {"received": len(events), "duplicates": 0, "unmatched": 0, "applied": 0}
        for e in events:
            await self._record(src, e, counts)
        event(log, "provider_event.received", provider=src.name, **counts)
        return counts

    async def _verified_events(
        self, src: WebhookSource, doc: Any, headers: Mapping[str, str], body: bytes
    ) -> list[ProviderEvent] | None:
        if src.type == "ses":
            if not isinstance(doc, dict):
                raise Unverified("not an SNS message")
            await self._sns.verify(doc, src.sns_cert_url_pattern)
            return await self._sns_events(src, doc)
        if src.type == "sendgrid":
            verify_sendgrid(
                src.sendgrid_public_key,
                headers.get("x-twilio-email-event-webhook-signature", ""),
                headers.get("x-twilio-email-event-webhook-timestamp", ""),
                body,
            )
            if not isinstance(doc, list):
                raise _bad("SendGrid events come as a JSON array")
            return sendgrid_events(doc)
        if not isinstance(doc, dict):
            raise Unverified("not a Mailgun webhook")
        token = verify_mailgun(src.mailgun_signing_key, doc.get("signature"), self._now())
        if not await self.store.use_webhook_token(src.name, token):
            raise Unverified("token replayed")
        data = doc.get("event-data")
        return mailgun_events(data) if isinstance(data, dict) else []

    async def _sns_events(
        self, src: WebhookSource, doc: dict[str, Any]
    ) -> list[ProviderEvent] | None:
        kind = doc.get("Type")
        if kind == "SubscriptionConfirmation":
            url = doc.get("SubscribeURL")
            if not isinstance(url, str) or not re.match(src.sns_cert_url_pattern, url):
                raise Unverified("SubscribeURL does not match the allowed URL pattern")
            try:
                await self._fetch(url)
            except Exception as exc:  # SNS sends the confirmation again; say it failed
                raise _bad(f"could not confirm the subscription ({type(exc).__name__})") from None
            event(log, "provider_event.subscription_confirmed", provider=src.name,
                  topic=str(doc.get("TopicArn", "")))  # fmt: skip
            return None
        if kind != "Notification":
            return []
        try:
            message = msgspec.json.decode(str(doc.get("Message", "")))
        except msgspec.DecodeError:
            raise _bad("the SNS Message is not JSON") from None
        if not isinstance(message, dict):
            raise _bad("the SNS Message is not a JSON object")
        return ses_events(str(doc.get("MessageId", "")), message)

    async def _message(self, src: WebhookSource, message_id: str | None) -> MessageRecord | None:
        if not message_id or len(message_id) > 64:
            return None
        found = (await self.store.load_for_send([message_id])).get(message_id)
        if found is None or (src.tenant_id is not None and found.tenant_id != src.tenant_id):
            return None
        return found

    async def _record(self, src: WebhookSource, e: ProviderEvent, counts: dict[str, int]) -> None:
        message = await self._message(src, e.message_id)
        effects: list[InboundEffect] = []
        if message is not None:
            everyone = (*message.to, *message.cc, *message.bcc)
            effects = effects_of(
                e, src.name, message.tenant_id, message.id, everyone, self.hard_bounces
            )
        else:
            counts["unmatched"] += 1
        payload = msgspec.json.encode(e.payload)[:MAX_PAYLOAD]
        applied = await self.store.record_provider_event(
            src.name,
            e.event_id[:200],
            e.kind,
            message.tenant_id if message else None,
            message.id if message else None,
            e.provider_message_id,
            payload,
            effects,
        )
        if applied is None:
            counts["duplicates"] += 1
            return
        counts["applied"] += applied
        if applied and self.on_effects is not None:
            self.on_effects(effects)
