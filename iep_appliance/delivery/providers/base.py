"""The Provider interface: hand one MIME message to a transport and report what happened.

Providers return a SendOutcome of facts (codes, server text, per-recipient rejections);
they never raise for a delivery failure, and `domain.retry.classify` alone judges them.
Every network call has a timeout.

Example:
    outcome = await provider.send(Envelope("a@x.com", ("b@y.com",), message_id), mime)
"""

from typing import Protocol

import msgspec

from iep_appliance.domain.outcomes import SendOutcome

SANDBOX_PROVIDER = "outbox"  # the built-in outbox, always there: sandbox messages go to it


class Envelope(msgspec.Struct, frozen=True):
    mail_from: str
    rcpt_to: tuple[str, ...]
    message_id: str
    tenant_id: str = ""


class Provider(Protocol):
    name: str
    kind: str

    async def send(self, envelope: Envelope, mime: bytes) -> SendOutcome:
        """Deliver `mime` to the envelope recipients. Never raises for delivery failures."""

    async def check_health(self) -> bool:
        """True when the provider can take mail now (a connection or an open pool)."""

    async def aclose(self) -> None:
        """Close pooled connections."""
