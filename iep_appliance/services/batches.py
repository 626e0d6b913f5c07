"""Batch sends: the use cases behind POST /v1/messages/batch and /v1/batches/{id}.

`accept` checks everything before writing anything: the shared part once (templates,
attachments, sender), then the recipient entries in slices with a yield to the event loop
between slices, so a 10,000-recipient request never stalls other requests for long. Then one
durable transaction writes the batch row and one message + job + event per recipient (all or
nothing). Shared attachments are written once, under the batch's id, and every message refers
to the same files.

`accept` takes a Principal and a BatchRequest, so a recurring job's run can call it like the
API does (with an idempotency key per tick, a replay answers with the earlier batch).
"""

import asyncio
import hashlib
from datetime import datetime
from typing import Any

import msgspec

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.batches import (
    BatchCheck,
    ValidRecipient,
    check_recipients,
    check_shared,
    verdict,
)
from iep_appliance.domain.errors import (
    Conflict,
    FieldError,
    SenderNotAllowed,
    ValidationFailed,
    or_not_found,
)
from iep_appliance.domain.models import (
    MAX_BATCH_RECIPIENTS,
    BatchAccepted,
    BatchRecord,
    BatchReplayed,
    BatchRequest,
    MessageRecord,
    NewBatch,
    NewMessage,
    Principal,
    Queue,
    StoredAttachment,
    TenantSettings,
)
from iep_appliance.domain.queues import job_rank
from iep_appliance.domain.validation import CommonFields, decode_error_path, with_reply_to_name
from iep_appliance.services.messages import MessageService, TenantContext, wants_unsubscribe
from iep_appliance.services.queues import QueueService
from iep_appliance.store.base import Store

SLICE = 500  # recipient entries checked or built between two yields to the event loop
_encoder = msgspec.json.Encoder()


def batch_hash(req: BatchRequest) -> str:
    """Same batch, same hash, wherever the idempotency key came from."""
    canonical = msgspec.structs.replace(req, idempotency_key=None)
    return hashlib.sha256(_encoder.encode(canonical)).hexdigest()


def check_count(req: BatchRequest) -> int:
    """The number of recipient entries (what a rate limit counts); 422 when out of range."""
    n = len(req.recipients)
    if n == 0:
        raise ValidationFailed(
            [FieldError("recipients", "at least one recipient entry is required")]
        )
    if n > MAX_BATCH_RECIPIENTS:
        raise ValidationFailed(
            [FieldError("recipients", f"at most {MAX_BATCH_RECIPIENTS} recipient entries")]
        )
    return n


class BatchService:
    def __init__(
        self, store: Store, clock: Clock, messages: MessageService, queues: QueueService
    ) -> None:
        self.store = store
        self.clock = clock
        self.messages = messages
        self.queues = queues

    async def accept(
        self, principal: Principal, req: BatchRequest, idempotency_header: str | None = None
    ) -> BatchAccepted | BatchReplayed:
        """Validate everything, then write the batch and all its messages in one commit.

        Raises ValidationFailed (fields named `recipients[i].to[0]` …), PayloadTooLarge,
        SenderNotAllowed, Conflict (reused key with another body, draining queue)."""
        if idempotency_header is not None:
            if req.idempotency_key is not None and req.idempotency_key != idempotency_header:
                raise ValidationFailed(
                    [FieldError("idempotencyKey", "differs from the Idempotency-Key header")]
                )
            req = msgspec.structs.replace(req, idempotency_key=idempotency_header)
        tenant_id = principal.tenant_id
        now = self.clock.now()
        ctx, shared, recipients, queue = await self.validate(principal, req, now)
        batch_id = self.clock.new_id()
        stored = await self.messages.store_attachments(tenant_id, batch_id, shared)  # type: ignore[arg-type]
        try:
            batch = NewBatch(
                id=batch_id,
                count=len(recipients),
                queue=queue.name,
                queue_id=queue.id,
                scheduled_at=ids.iso(shared.scheduled_at) if shared.scheduled_at else None,
                sandbox=principal.sandbox or ctx.tenant.settings.sandbox,
                idempotency_key=req.idempotency_key,
                body_hash=batch_hash(req) if req.idempotency_key else None,
                created_at=ids.iso(now),
            )
            messages = await self._messages(
                req, shared, recipients, batch, queue, stored, ctx.tenant.settings
            )
            result = await self.store.accept_batch(tenant_id, batch, messages)
        except BaseException:
            if stored:
                await self.messages.drop_attachments(tenant_id, batch_id)
            raise
        if isinstance(result, BatchReplayed) and stored:
            await self.messages.drop_attachments(tenant_id, batch_id)
        if isinstance(result, BatchAccepted):
            for hook in self.messages.on_accepted:
                hook(tenant_id, result.count)
        return result

    async def validate(
        self, principal: Principal, req: BatchRequest, now: datetime | None = None
    ) -> tuple[TenantContext, CommonFields, list[ValidRecipient], Queue]:
        """Everything `accept` checks, writing nothing (also a recurring job's payload check)."""
        ctx = await self.messages.context(principal.tenant_id)
        check = BatchCheck()
        shared = check_shared(
            req,
            ctx.tenant.settings.attachments,
            now or self.clock.now(),
            check,
            self.messages.max_variable_depth,
        )
        recipients: list[ValidRecipient] = []
        for start in range(0, min(len(req.recipients), MAX_BATCH_RECIPIENTS), SLICE):
            part = req.recipients[start : start + SLICE]
            recipients.extend(
                check_recipients(
                    part, start, req.variables, check, self.messages.max_variable_depth
                )
            )
            await asyncio.sleep(0)
        try:
            verdict(shared, check, ctx.domains)
        except SenderNotAllowed as exc:
            raise ctx.sender_refusal(exc) from None
        queue = await self.queues.resolve(principal.tenant_id, req.queue)
        return ctx, shared, recipients, queue

    async def _messages(
        self,
        req: BatchRequest,
        shared: CommonFields,
        recipients: list[ValidRecipient],
        batch: NewBatch,
        queue: Queue,
        stored: tuple[StoredAttachment, ...],
        settings: TenantSettings,
    ) -> list[NewMessage]:
        """One NewMessage per recipient entry (built in slices, yielding between them)."""
        rank = job_rank(queue.priority, req.priority)
        max_attempts = self.queues.max_attempts(queue)
        new_id = self.clock.new_id
        unsubscribe = wants_unsubscribe(req.unsubscribe, req.metadata, settings)
        out: list[NewMessage] = []
        for start in range(0, len(recipients), SLICE):
            for r in recipients[start : start + SLICE]:
                attachments = (
                    tuple(msgspec.structs.replace(a, id=new_id()) for a in stored) if stored else ()
                )
                out.append(
                    NewMessage(
                        id=new_id(),
                        to=r.to,
                        cc=r.cc,
                        bcc=r.bcc,
                        from_email=shared.from_email,
                        from_name=shared.from_name,
                        reply_to=shared.reply_to,
                        display_names=with_reply_to_name(r.names, shared),
                        subject=req.subject,
                        html_body=req.html_body,
                        text_body=req.text_body,
                        variables=r.variables,
                        metadata=req.metadata,
                        category=shared.category,
                        priority=req.priority,
                        max_attempts=max_attempts,
                        idempotency_key=None,
                        body_hash=None,
                        scheduled_at=batch.scheduled_at,
                        created_at=batch.created_at,
                        attachments=attachments,
                        sandbox=batch.sandbox,
                        queue=queue.name,
                        batch_id=batch.id,
                        job_priority=rank,
                        queue_id=queue.id,
                        unsubscribe=unsubscribe,
                    )
                )
            await asyncio.sleep(0)
        return out

    # ---- read and cancel ---------------------------------------------------------------------

    async def get(self, tenant_id: str, batch_id: str) -> BatchRecord:
        return or_not_found(await self.store.get_batch(tenant_id, batch_id), "Batch not found")

    async def list_messages(
        self,
        tenant_id: str,
        batch_id: str,
        params: dict[str, str],
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[MessageRecord], str | None]:
        await self.get(tenant_id, batch_id)
        return await self.messages.list(tenant_id, {**params, "batchId": batch_id}, limit, cursor)

    async def cancel(self, tenant_id: str, batch_id: str) -> tuple[int, BatchRecord, str]:
        """Cancel every message of the batch that has not started: (how many now, progress,
        status: `cancelled` when every message is, else `partially_cancelled`). Raises
        Conflict when none is or was cancelled (every message sending or finished)."""
        cancelled = or_not_found(
            await self.store.cancel_batch(tenant_id, batch_id), "Batch not found"
        )
        batch = await self.get(tenant_id, batch_id)
        done = batch.counts.get("cancelled", 0)
        if done == 0:
            counts = ", ".join(f"{n} {status}" for status, n in sorted(batch.counts.items()) if n)
            raise Conflict(
                f"Nothing to cancel: no message of the batch is waiting ({counts})",
                {"batchId": batch.id, "counts": batch.counts},
            )
        status = "cancelled" if done == sum(batch.counts.values()) else "partially_cancelled"
        return cancelled, batch, status


def decode_batch(payload: dict[str, Any]) -> BatchRequest:
    """A batch body given as a JSON object (a recurring job's payload). 422 names the path."""
    try:
        return msgspec.convert(payload, BatchRequest)
    except msgspec.ValidationError as exc:
        raise ValidationFailed([decode_error_path(str(exc))]) from None


class BatchPayloads:
    """The batch service as a recurring job's run uses it (services/scheduled_jobs.BatchPort):
    payloads are objects shaped like a POST /v1/messages/batch body; the run's idempotency
    key makes a re-run of the same tick answer with the batch it already created."""

    def __init__(self, batches: BatchService) -> None:
        self.batches = batches

    async def check(self, principal: Principal, payload: dict[str, Any]) -> None:
        await self.batches.validate(principal, decode_batch(payload))

    async def accept(
        self, principal: Principal, payload: dict[str, Any], idempotency_key: str
    ) -> tuple[str, int]:
        req = msgspec.structs.replace(decode_batch(payload), idempotency_key=idempotency_key)
        result = await self.batches.accept(principal, req)
        return result.batch_id, result.count
