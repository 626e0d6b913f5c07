"""Accepting a message submitted as MIME (the SMTP submission server).

The same pipeline as `POST /v1/messages`: the rate limit reserved first and refunded when
nothing is accepted, the tenant's cached rules (sender domains, attachment limits, sandbox),
named queues, idempotency, the one durable transaction of `Store.accept_message` (message +
raw MIME + job + event) and the accept hooks. Suppressions are applied at send time, as for
every message. Only the parsing differs: `domain.submission.prepare_raw`.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from iep_appliance.domain.errors import SenderNotAllowed
from iep_appliance.domain.models import Accepted, Principal, Replayed, SendRequest
from iep_appliance.domain.submission import prepare_raw
from iep_appliance.domain.validation import ValidSend
from iep_appliance.services.messages import MessageService

CheckRate = Callable[[Principal, int], Awaitable[dict[str, str]]]
ReleaseRate = Callable[[Principal, int], None]


class Origin(msgspec.Struct, frozen=True):
    """How a submission arrived: `smtp`, the client's address and its AUTH user."""

    kind: str = "smtp"
    client: str | None = None
    user: str | None = None


class SubmissionService:
    def __init__(
        self,
        messages: MessageService,
        check_rate: CheckRate,
        release_rate: ReleaseRate,
        message_id_domain: str | None,
    ) -> None:
        self.messages = messages
        self.check_rate = check_rate
        self.release_rate = release_rate
        # The right side of an added Message-ID; None: the sender's domain (DESIGN §10.1).
        self.message_id_domain = message_id_domain

    async def check_sender(self, principal: Principal, address: str) -> None:
        """MAIL FROM: its domain must be one of the tenant's. Raises SenderNotAllowed."""
        ctx = await self.messages.context(principal.tenant_id)
        domain = address.rpartition("@")[2].lower()
        if domain not in ctx.domains:
            raise SenderNotAllowed(domain)

    async def accept(
        self,
        principal: Principal,
        raw: bytes,
        rcpts: Sequence[str],
        *,
        smtputf8: bool,
        origin: Origin,
    ) -> Accepted | Replayed:
        """Check, store durably and queue one MIME message for `rcpts` (the envelope).
        Raises what `POST /v1/messages` raises for the same fault (RateLimited,
        ValidationFailed, PayloadTooLarge, SenderNotAllowed, Conflict, …)."""
        await self.check_rate(principal, 1)
        try:
            result = await self._accept(principal, raw, rcpts, smtputf8, origin)
        except BaseException:
            self.release_rate(principal, 1)  # nothing accepted, nothing counted
            raise
        if isinstance(result, Replayed):
            self.release_rate(principal, 1)
        return result

    async def _accept(
        self,
        principal: Principal,
        raw: bytes,
        rcpts: Sequence[str],
        smtputf8: bool,
        origin: Origin,
    ) -> Accepted | Replayed:
        service = self.messages
        ctx = await service.context(principal.tenant_id)
        message_id = service.clock.new_id()
        prepared = prepare_raw(
            raw,
            rcpts,
            smtputf8=smtputf8,
            allowed_domains=ctx.domains,
            limits=ctx.tenant.settings.attachments,
            message_id=message_id,
            message_id_domain=self.message_id_domain,
            date=service.clock.now(),
        )
        queue = await service.resolve_queue(principal.tenant_id, prepared.queue)
        metadata: dict[str, Any] = {}
        if prepared.category is not None:
            metadata["category"] = prepared.category
        if prepared.tags:
            metadata["tags"] = list(prepared.tags)
        # One definition of attempts, queue rank and sandbox: MessageService.new_message.
        req = SendRequest(
            to=list(prepared.to),
            from_=prepared.from_email,
            subject=prepared.subject,
            html_body="",
            metadata=metadata,
            idempotency_key=prepared.idempotency_key,
            queue=prepared.queue,
        )
        valid = ValidSend(
            to=prepared.to,
            cc=prepared.cc,
            bcc=prepared.bcc,
            from_email=prepared.from_email,
            from_name=prepared.from_name,
            reply_to=prepared.reply_to,
            attachments=(),
            scheduled_at=None,
            category=prepared.category,
        )
        msg = service.new_message(principal, ctx.tenant, req, valid, message_id, (), queue=queue)
        msg = msgspec.structs.replace(
            msg,
            body_hash=prepared.body_hash if prepared.idempotency_key else None,
            origin=origin.kind,
            origin_client=origin.client,
            origin_user=origin.user,
            raw_mime=prepared.mime,
        )
        result = await service.store.accept_message(principal.tenant_id, msg)
        if isinstance(result, Accepted):
            for hook in service.on_accepted:
                hook(principal.tenant_id, 1)
        return result
