"""What the inbound listener hands over: bounces to `bounce+TOKEN@`, complaints to `fbl@`,
mailed unsubscribes to `unsubscribe+TOKEN@` (DESIGN §10.3).

Steps: read the address (a forged token is refused at RCPT already) → parse the report
(`domain.bounces`; flufl.bounce for non-DSN bounces) → find the message (the token's; for
fbl@ the IEP id in the returned headers) → decide the effects (`domain.bounces.effects_for`:
only the message's own recipients) → store the mail and the effects in one transaction.
Anything that matches nothing is stored as `unmatched` and changes nothing else.
"""

import email
import email.policy
import logging
from collections.abc import Callable
from typing import Any

import msgspec
from flufl.bounce import all_failures

from iep_appliance.clock import Clock
from iep_appliance.domain import ids, verp
from iep_appliance.domain.bounces import (
    InboundEffect,
    InboundMail,
    RecipientReport,
    Report,
    effects_for,
    parse_report,
)
from iep_appliance.domain.models import MessageRecord
from iep_appliance.logs import event
from iep_appliance.services.secret_box import SecretBox
from iep_appliance.store.base import Store

log = logging.getLogger("iep.inbound")


def scan_non_dsn(raw: bytes) -> Report:
    """Common MTAs' non-DSN bounces (qmail, Exim's old format, …) through flufl.bounce."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        temporary, permanent = all_failures(msg)
    except Exception:  # a heuristic scanner over hostile input: no finding, never a crash
        return Report(kind="unknown")

    def text(a: Any) -> str:
        return (a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a)).lower()

    recipients = [
        RecipientReport(recipient=text(a), action="failed", status="5.0.0") for a in permanent
    ] + [RecipientReport(recipient=text(a), action="delayed", status="4.0.0") for a in temporary]
    return Report(kind="non-dsn" if recipients else "unknown", recipients=tuple(recipients))


class InboundService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        box: SecretBox,
        bounce_domain: str,
        hard_bounces: int,
        max_stored_bytes: int,
        on_effects: Callable[[list[InboundEffect]], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.box = box
        self._keys: tuple[bytes, bytes] | None = None
        self.bounce_domain = bounce_domain
        self.hard_bounces = hard_bounces
        self.max_stored = max_stored_bytes
        self.on_effects = on_effects

    def _derived(self) -> tuple[bytes, bytes]:
        if self._keys is None:  # derived on first use: the master key is read then
            self._keys = (
                self.box.derive("verp bounce tokens v1"),
                self.box.derive("unsubscribe tokens v1"),
            )
        return self._keys

    @property
    def bounce_key(self) -> bytes:
        return self._derived()[0]

    @property
    def unsubscribe_key(self) -> bytes:
        return self._derived()[1]

    def accepts(self, address: str) -> bool:
        """RCPT: only our addresses, and a bounce/unsubscribe token must be genuine."""
        found = verp.classify_rcpt(address, self.bounce_domain)
        if found is None:
            return False
        kind, token = found
        if kind == "bounce":
            return verp.read_bounce_token(self.bounce_key, token) is not None
        if kind == "unsubscribe":
            return verp.read_unsubscribe_token(self.unsubscribe_key, token) is not None
        return True

    async def unsubscribe(self, token: str, source: str = "one-click") -> bool | None:
        """Suppress the recipient a genuine unsubscribe token names (idempotent). None for a
        token that is forged or names no message; else whether this call changed anything."""
        read = verp.read_unsubscribe_token(self.unsubscribe_key, token)
        message = await self._message(read[0] if read else None)
        effects = unsubscribe_effects(message, read[1] if read else -1, source)
        if not effects:
            return None
        applied = await self.store.record_inbound(None, effects)
        event(log, "unsubscribe.received", source=source, applied=applied)
        return applied > 0

    async def for_message(self, tenant_id: str, message_id: str) -> list[dict[str, Any]]:
        """The inbound mail matched to a message, each with the start of its stored copy."""
        out = []
        for item in await self.store.inbound_for_message(tenant_id, message_id):
            raw = await self.store.inbound_raw(tenant_id, item.id) or b""
            shown: dict[str, Any] = msgspec.to_builtins(item)  # camelCase keys
            shown["excerpt"] = raw[:4096].decode("utf-8", "replace")
            out.append(shown)
        return out

    async def _message(self, message_id: str | None) -> MessageRecord | None:
        if not message_id:
            return None
        found = await self.store.load_for_send([message_id])
        return found.get(message_id)

    async def receive(self, mail_from: str, rcpt: str, raw: bytes) -> int:
        """Record one inbound mail for one of our addresses. Returns the new effects."""
        found = verp.classify_rcpt(rcpt, self.bounce_domain)
        kind, token = found if found is not None else ("unmatched", "")
        report = parse_report(raw)
        message: MessageRecord | None = None
        if kind == "bounce":
            message = await self._message(verp.read_bounce_token(self.bounce_key, token))
            if report.kind == "unknown":
                report = scan_non_dsn(raw)
        elif kind == "fbl":
            for candidate in report.message_ids:
                message = await self._message(candidate)
                if message is not None:
                    break
        effects: list[InboundEffect] = []
        if kind == "unsubscribe":
            read = verp.read_unsubscribe_token(self.unsubscribe_key, token)
            message = await self._message(read[0] if read else None)
            effects = unsubscribe_effects(message, read[1] if read else -1, "mailto")
        elif message is not None:
            everyone = (*message.to, *message.cc, *message.bcc)
            effects = effects_for(
                report, message.tenant_id, message.id, everyone, self.hard_bounces
            )
        stored_kind = {"bounce": "bounce", "fbl": "complaint", "unsubscribe": "unsubscribe"}.get(
            kind, "unmatched"
        )
        mail = InboundMail(
            id=self.clock.new_id(),
            tenant_id=message.tenant_id if message else None,
            message_id=message.id if message else None,
            kind=stored_kind if message else "unmatched",
            mail_from=mail_from[:320],
            rcpt_to=rcpt[:320],
            size=len(raw),
            raw=raw[: self.max_stored],
            summary={
                "report": report.kind,
                "subject": report.subject,
                "recipients": [msgspec.to_builtins(r) for r in report.recipients[:20]],
                "effects": [f"{e.kind} {e.recipient} {e.status}".strip() for e in effects],
            },
            received_at=ids.iso(self.clock.now()),
        )
        applied = await self.store.record_inbound(mail, effects)
        event(
            log,
            "inbound.received",
            kind=mail.kind,
            report=report.kind,
            matched=message.id if message else None,
            effects=len(effects),
            applied=applied,
            size=len(raw),
        )
        if applied and self.on_effects is not None:
            self.on_effects(effects)
        return applied


def unsubscribe_effects(
    message: MessageRecord | None, index: int, source: str
) -> list[InboundEffect]:
    """Suppress the recipient a genuine unsubscribe token names (reason `unsubscribe`)."""
    if message is None:
        return []
    everyone = (*message.to, *message.cc, *message.bcc)
    if not 0 <= index < len(everyone):
        return []
    return [
        InboundEffect(
            tenant_id=message.tenant_id,
            message_id=message.id,
            recipient=everyone[index].lower(),
            kind="unsubscribe",
            diagnostic=source,
            suppress_reason="unsubscribe",
            recipients_total=len(everyone),
            webhook="message.unsubscribed",
        )
    ]
