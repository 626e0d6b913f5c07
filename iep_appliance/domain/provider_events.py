"""Provider events (DESIGN §10.4): what SES, SendGrid and Mailgun report about a message, read
into one shape and turned into the same effects as an inbound bounce or complaint (§10.3).

Pure: decoded JSON in, values out. Each provider names the IEP message the way IEP told it at
send time (SES tag / header `X-IEP-Message-Id`, SendGrid `custom_args`, Mailgun user variable
`iep_message_id`). Bounces and complaints go through `bounces.effects_for`, so suppression
counting and the `bounced` status follow the same rules whichever way the news came;
`delivered`, `opened` and `clicked` are effects of their own.
"""

from typing import Any, Literal

import msgspec

from iep_appliance.domain.bounces import InboundEffect, RecipientReport, Report, effects_for

__all__ = [
    "ProviderEvent",
    "effects_of",
    "mailgun_events",
    "sendgrid_events",
    "ses_events",
]

EventKind = Literal["delivered", "bounced", "complained", "opened", "clicked", "other"]
MESSAGE_KEY = "iep_message_id"
MAX_PAYLOAD = 8192


class ProviderEvent(msgspec.Struct, frozen=True, kw_only=True):
    event_id: str
    kind: EventKind
    raw_type: str  # the provider's own name ("Bounce", "spamreport", "failed", …)
    message_id: str | None  # the IEP message the provider names, if it names one
    provider_message_id: str | None = None
    recipients: tuple[RecipientReport, ...] = ()
    url: str | None = None  # clicked: the link
    payload: dict[str, Any] = msgspec.field(default_factory=dict)


def _s(value: object) -> str:
    return value if isinstance(value, str) else ""


def _d(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _status(text: str, fallback: str) -> str:
    """An RFC 3463 status out of a provider's text ("smtp; 550 5.1.1 user unknown")."""
    for token in text.replace(";", " ").split():
        parts = token.split(".")
        if len(parts) == 3 and parts[0] in ("2", "4", "5") and all(p.isdigit() for p in parts):
            return token
    return fallback


# ---- SES (the SNS Notification's Message, decoded) -----------------------------------------

_SES_KIND: dict[str, EventKind] = {
    "delivery": "delivered",
    "bounce": "bounced",
    "complaint": "complained",
    "open": "opened",
    "click": "clicked",
}


def _ses_message_id(mail: dict[str, Any]) -> str | None:
    tags = _d(mail.get("tags"))
    found = _l(tags.get(MESSAGE_KEY))
    if found and isinstance(found[0], str):
        return found[0]
    for header in _l(mail.get("headers")):
        h = _d(header)
        if _s(h.get("name")).lower() == "x-iep-message-id" and _s(h.get("value")):
            return _s(h.get("value")).strip()
    return None


def ses_events(sns_message_id: str, message: dict[str, Any]) -> list[ProviderEvent]:
    """One SES event (event publishing `eventType`, or identity `notificationType`)."""
    raw_type = _s(message.get("eventType")) or _s(message.get("notificationType"))
    kind = _SES_KIND.get(raw_type.lower(), "other")
    mail = _d(message.get("mail"))
    recipients: list[RecipientReport] = []
    url = None
    if kind == "bounced":
        bounce = _d(message.get("bounce"))
        permanent = _s(bounce.get("bounceType")) == "Permanent"
        for r in _l(bounce.get("bouncedRecipients")):
            r = _d(r)
            diagnostic = _s(r.get("diagnosticCode"))
            status = _s(r.get("status")) or _status(diagnostic, "5.0.0" if permanent else "4.0.0")
            if not permanent and status.startswith("5."):
                status = "4" + status[1:]  # SES says transient: never a hard bounce
            recipients.append(
                RecipientReport(
                    recipient=_s(r.get("emailAddress")).lower(),
                    action="failed" if permanent else "delayed",
                    status=status,
                    diagnostic=diagnostic[:500],
                )
            )
    elif kind == "complained":
        for r in _l(_d(message.get("complaint")).get("complainedRecipients")):
            address = _s(_d(r).get("emailAddress")).lower()
            recipients.append(RecipientReport(recipient=address, action="complaint", status=""))
    elif kind == "delivered":
        for r in _l(_d(message.get("delivery")).get("recipients")):
            recipients.append(
                RecipientReport(recipient=_s(r).lower(), action="delivered", status="")
            )
    elif kind in ("opened", "clicked"):
        for r in _l(mail.get("destination")):
            recipients.append(RecipientReport(recipient=_s(r).lower(), action=kind, status=""))
        url = _s(_d(message.get("click")).get("link")) or None
    return [
        ProviderEvent(
            event_id=sns_message_id,
            kind=kind,
            raw_type=raw_type,
            message_id=_ses_message_id(mail),
            provider_message_id=_s(mail.get("messageId")) or None,
            recipients=tuple(recipients),
            url=url,
            payload=message,
        )
    ]


# ---- SendGrid (the Event Webhook's JSON array) ---------------------------------------------

_SENDGRID_KIND: dict[str, EventKind] = {
    "delivered": "delivered",
    "bounce": "bounced",
    "dropped": "bounced",
    "spamreport": "complained",
    "open": "opened",
    "click": "clicked",
}


def sendgrid_events(items: list[Any]) -> list[ProviderEvent]:
    out = []
    for item in items:
        e = _d(item)
        event_id = _s(e.get("sg_event_id"))
        if not event_id:
            continue
        raw_type = _s(e.get("event"))
        kind = _SENDGRID_KIND.get(raw_type, "other")
        recipient = _s(e.get("email")).lower()
        action = {"bounced": "failed", "complained": "complaint"}.get(kind, kind)
        status = ""
        if kind == "bounced":
            reason = _s(e.get("reason"))
            blocked = _s(e.get("type")) == "blocked"  # a refusal of this message, not address
            status = _s(e.get("status")) or _status(reason, "5.0.0")
            if blocked and status.startswith("5.") and not status.startswith("5.7."):
                status = "5.7.1"
            if raw_type == "dropped":
                status = "5.7.1"  # SendGrid would not send (its own suppression): policy
        out.append(
            ProviderEvent(
                event_id=event_id,
                kind=kind,
                raw_type=raw_type,
                message_id=_s(e.get(MESSAGE_KEY)) or None,
                provider_message_id=_s(e.get("sg_message_id")) or None,
                recipients=(
                    RecipientReport(
                        recipient=recipient,
                        action=action,
                        status=status,
                        diagnostic=_s(e.get("reason"))[:500],
                    ),
                )
                if recipient
                else (),
                url=_s(e.get("url")) or None,
                payload=e,
            )
        )
    return out


# ---- Mailgun (one webhook POST, `event-data`) ----------------------------------------------

_MAILGUN_KIND: dict[str, EventKind] = {
    "delivered": "delivered",
    "failed": "bounced",
    "complained": "complained",
    "opened": "opened",
    "clicked": "clicked",
}


def mailgun_events(data: dict[str, Any]) -> list[ProviderEvent]:
    event_id = _s(data.get("id"))
    if not event_id:
        return []
    raw_type = _s(data.get("event"))
    kind = _MAILGUN_KIND.get(raw_type, "other")
    recipient = _s(data.get("recipient")).lower()
    status_info = _d(data.get("delivery-status"))
    permanent = _s(data.get("severity")) == "permanent"
    action = {"bounced": "failed" if permanent else "delayed", "complained": "complaint"}
    status = ""
    if kind == "bounced":
        text = f"{status_info.get('enhanced-code', '')} {_s(status_info.get('message'))}"
        status = _status(text, "5.0.0" if permanent else "4.0.0")
        if not permanent and status.startswith("5."):
            status = "4" + status[1:]
    message = _d(data.get("message"))
    variables = _d(data.get("user-variables"))
    return [
        ProviderEvent(
            event_id=event_id,
            kind=kind,
            raw_type=raw_type,
            message_id=_s(variables.get(MESSAGE_KEY)) or None,
            provider_message_id=_s(_d(message.get("headers")).get("message-id")) or None,
            recipients=(
                RecipientReport(
                    recipient=recipient,
                    action=action.get(kind, kind),
                    status=status,
                    diagnostic=_s(status_info.get("description") or status_info.get("message"))[
                        :500
                    ],
                ),
            )
            if recipient
            else (),
            url=_s(data.get("url")) or None,
            payload=data,
        )
    ]


# ---- effects -------------------------------------------------------------------------------

_WEBHOOK = {
    "delivered": "message.delivered",
    "opened": "message.opened",
    "clicked": "message.clicked",
}


def effects_of(
    event: ProviderEvent,
    provider: str,
    tenant_id: str,
    message_id: str,
    message_recipients: tuple[str, ...],
    hard_bounces: int,
) -> list[InboundEffect]:
    """The effects of one provider event on the message it names (its recipients only)."""
    detail: dict[str, object] = {"provider": provider, "providerEventId": event.event_id}
    if event.kind in ("bounced", "complained"):
        report = Report(kind="provider", recipients=event.recipients, feedback_type="abuse")
        found = effects_for(report, tenant_id, message_id, message_recipients, hard_bounces)
        return [msgspec.structs.replace(e, detail=detail) for e in found]
    webhook = _WEBHOOK.get(event.kind)
    if webhook is None:
        return []
    if event.url:
        detail["url"] = event.url[:2000]
    known = {r.lower() for r in message_recipients}
    return [
        InboundEffect(
            tenant_id=tenant_id,
            message_id=message_id,
            recipient=r.recipient,
            kind=event.kind,
            recipients_total=len(known),
            webhook=webhook,
            detail=detail,
        )
        for r in event.recipients
        if r.recipient in known
    ]
