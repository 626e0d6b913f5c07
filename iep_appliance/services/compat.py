"""Use cases the hosted-provider compatible APIs need beyond a single send (DESIGN §10.2).

`accept_group`: several independent messages (each with its own sender, subject, body) in one
durable transaction, all or nothing — Resend's POST /emails/batch. Every message goes through
the same `validate_send` as POST /v1/messages; the group is written with the batch verb, so a
replayed Idempotency-Key answers with the original ids. `reschedule`: move a scheduled
message that has not started to another time (Resend's PATCH /emails/{id}).
"""

import hashlib

import msgspec

from iep_appliance.domain import ids
from iep_appliance.domain.errors import (
    FieldError,
    PayloadTooLarge,
    SenderNotAllowed,
    ValidationFailed,
)
from iep_appliance.domain.models import (
    BatchAccepted,
    BatchReplayed,
    NewBatch,
    NewMessage,
    Principal,
    SendRequest,
)
from iep_appliance.domain.validation import ValidSend, parse_schedule, validate_send
from iep_appliance.services.messages import MessageService, expect_status

_encoder = msgspec.json.Encoder()


class GroupAccepted(msgspec.Struct, frozen=True):
    message_ids: list[str]
    replayed: bool


def group_hash(reqs: list[SendRequest]) -> str:
    return hashlib.sha256(_encoder.encode(reqs)).hexdigest()


class CompatService:
    def __init__(self, messages: MessageService) -> None:
        self.messages = messages
        self.store = messages.store
        self.clock = messages.clock

    async def accept_group(
        self,
        principal: Principal,
        reqs: list[SendRequest],
        idempotency_key: str | None = None,
        *,
        origin: str = "api",
    ) -> GroupAccepted:
        """Validate every message (errors named `[i].field`), then write them all in one
        commit. Attachments are not taken here (Resend's batch has none)."""
        tenant_id = principal.tenant_id
        ctx = await self.messages.context(tenant_id)
        now = self.clock.now()
        errors: list[FieldError] = []
        valid: list[ValidSend] = []
        too_large: list[FieldError] = []
        refused: SenderNotAllowed | None = None
        for i, req in enumerate(reqs):
            try:
                valid.append(
                    validate_send(req, ctx.tenant.settings.attachments, ctx.domains, now, f"[{i}].")
                )
            except ValidationFailed as exc:
                errors.extend(exc.errors)
            except PayloadTooLarge as exc:
                too_large.extend(exc.errors)
            except SenderNotAllowed as exc:
                refused = refused or exc
        if errors:
            raise ValidationFailed(errors)
        if too_large:
            raise PayloadTooLarge(too_large)
        if refused is not None:
            raise refused
        if idempotency_key is not None and not 0 < len(idempotency_key) <= 255:
            raise ValidationFailed([FieldError("idempotencyKey", "must be 1-255 characters")])
        queue = await self.messages.resolve_queue(tenant_id, None)
        message_ids = sorted(self.clock.new_id() for _ in reqs)  # id order is index order
        batch = NewBatch(
            id=self.clock.new_id(),
            count=len(reqs),
            queue=queue.name if queue is not None else "default",
            queue_id=queue.id if queue is not None else None,
            scheduled_at=None,
            sandbox=principal.sandbox or ctx.tenant.settings.sandbox,
            idempotency_key=idempotency_key,
            body_hash=group_hash(reqs) if idempotency_key else None,
            created_at=ids.iso(now),
        )
        news: list[NewMessage] = [
            self.messages.new_message(
                principal, ctx.tenant, req, v, mid, (), queue=queue, batch_id=batch.id
            )
            for req, v, mid in zip(reqs, valid, message_ids, strict=True)
        ]
        result = await self.store.accept_batch(tenant_id, batch, news)
        if isinstance(result, BatchReplayed):
            return GroupAccepted(await self._group_ids(tenant_id, result.batch_id), True)
        assert isinstance(result, BatchAccepted)
        for hook in self.messages.on_accepted:
            hook(tenant_id, result.count)
        return GroupAccepted(message_ids, False)

    async def _group_ids(self, tenant_id: str, batch_id: str) -> list[str]:
        items, _ = await self.messages.list(tenant_id, {"batchId": batch_id}, limit=200)
        return sorted(m.id for m in items)

    async def reschedule(self, tenant_id: str, message_id: str, scheduled_at: str | None) -> str:
        """Move a scheduled message to `scheduled_at`. 404 unknown, 409 once it is not
        scheduled any more (or its job started). Returns the new time (ISO)."""
        errors: list[FieldError] = []
        if scheduled_at is None:
            errors.append(FieldError("scheduledAt", "is required"))
        when = parse_schedule(scheduled_at, self.clock.now(), errors)
        if errors or when is None:
            raise ValidationFailed(errors or [FieldError("scheduledAt", "is required")])
        at = ids.iso(when)
        status = await self.store.reschedule_message(tenant_id, message_id, at)
        refusal = "Only a scheduled message can be rescheduled"
        expect_status(message_id, status, "scheduled", refusal)
        return at

    async def suppressed(self, tenant_id: str, emails: list[str]) -> list[str]:
        """Those of `emails` the tenant suppresses (Postmark refuses a send to them all)."""
        return await self.store.suppressed_among(tenant_id, emails)
