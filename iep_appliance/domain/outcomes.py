"""Facts a provider reports about one send attempt (STYLE §1.5): codes, server text, rejections.

Providers build these instead of raising; `domain.retry` alone decides what the facts mean.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["RecipientRejection", "SendOutcome", "Stage"]

# Where the attempt stopped; None means the message was handed over. "http" is for HTTP-API
# providers, "render" for a template that failed before any connection was made.
Stage = Literal["connect", "auth", "mail", "rcpt", "data", "network", "timeout", "render", "http"]


class RecipientRejection(msgspec.Struct, frozen=True):
    """One recipient refused at RCPT TO, with the server's reply."""

    address: str
    code: int
    message: str


class SendOutcome(msgspec.Struct, frozen=True):
    """What happened, as reported by the provider; no judgement about retrying.

    `code`/`enhanced_code`/`message` are the reply that ended the attempt (or the final reply
    on success); `rejected` lists recipients refused at RCPT, whether or not others went through.
    """

    provider: str
    accepted: tuple[str, ...] = ()
    rejected: tuple[RecipientRejection, ...] = ()
    code: int | None = None
    enhanced_code: str | None = None
    message: str = ""
    stage: Stage | None = None
    network_error: str | None = None
    provider_message_id: str | None = None
    retry_after: float | None = None  # seconds an HTTP provider asked us to wait (Retry-After)

    @property
    def ok(self) -> bool:
        """The message was handed over for at least one recipient."""
        return self.stage is None and bool(self.accepted)
