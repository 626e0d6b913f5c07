"""Accepting, reading and retrying messages: the use cases behind /v1/messages.

`accept` is the hot path: decode → tenant rules (cached) → validate → write attachment
files → one durable transaction (message + job + event). Nothing is written for a
rejected request; attachment files of a replayed or failed request are removed.
"""

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import msgspec

from iep_appliance import traces
from iep_appliance.blobs import Blobs
from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.cursors import decode_cursor, encode_cursor
from iep_appliance.domain.errors import (
    Conflict,
    FieldError,
    NotFound,
    SenderNotAllowed,
    SenderPending,
    ValidationFailed,
    or_not_found,
)
from iep_appliance.domain.models import (
    MESSAGE_STATUSES,
    ORIGINS,
    Accepted,
    MessageRecord,
    NewMessage,
    Principal,
    Queue,
    Replayed,
    SendRequest,
    StoredAttachment,
    Tenant,
)
from iep_appliance.domain.queues import job_rank
from iep_appliance.domain.retry import attempts_from
from iep_appliance.domain.search import MessageSearch
from iep_appliance.domain.tracking import flags_of
from iep_appliance.domain.validation import (
    DEFAULT_MAX_VARIABLE_DEPTH,
    ValidSend,
    validate_send,
)
from iep_appliance.services.queues import QueueService
from iep_appliance.services.templates import TemplateService, template_extra
from iep_appliance.store.base import Store

# Writes one validated message durably (default: Store.accept_message).
AcceptWrite = Callable[[str, NewMessage], Awaitable[Accepted | Replayed]]
_encoder = msgspec.json.Encoder()


class TenantContext(msgspec.Struct, frozen=True):
    tenant: Tenant
    domains: frozenset[str]  # usable in `from` (verified)
    loaded_at: float
    pending: frozenset[str] = frozenset()  # listed, waiting for verification (DESIGN §4.1)

    def sender_refusal(self, exc: SenderNotAllowed) -> SenderNotAllowed:
        """The refusal to raise: one that says "pending" for a domain waiting to be verified."""
        return SenderPending(exc.domain) if exc.domain in self.pending else exc


def body_hash(req: SendRequest) -> str:
    """Same request, same hash, wherever the idempotency key came from."""
    canonical = msgspec.structs.replace(req, idempotency_key=None)
    if req.template is not None:  # by template: the reference counts, not the sources in place
        canonical = msgspec.structs.replace(canonical, subject="", html_body="", text_body=None)
    return hashlib.sha256(_encoder.encode(canonical)).hexdigest()


def wants_unsubscribe(asked: bool | None, metadata: dict[str, Any], settings: Any) -> bool:
    """The send's `unsubscribe`; else the interim `metadata.unsubscribe: true` (kept for
    compatibility); else the tenant's default."""
    if asked is not None:
        return asked
    if metadata.get("unsubscribe") is True:
        return True
    return bool(settings.unsubscribe)


def expect_status(message_id: str, status: str | None, wanted: str, refusal: str) -> None:
    """After a store verb that changes a message's status and returns it (None: no such
    message): NotFound, or Conflict saying `refusal` and the status it is in, unless `wanted`."""
    if status is None:
        raise NotFound("Message not found")
    if status != wanted:
        raise Conflict(
            f"{refusal}; this one is {status!r}",
            {"messageId": message_id, "messageStatus": status},
        )


class MessageService:
    def __init__(
        self,
        store: Store,
        blobs: Blobs,
        clock: Clock,
        max_attempts: int,
        context_ttl: float = 5.0,
        queues: QueueService | None = None,
        *,
        max_variable_depth: int = DEFAULT_MAX_VARIABLE_DEPTH,  # `[render]`
        on_accepted: Sequence[Callable[[str, int], None]] = (),
        templates: TemplateService | None = None,
    ) -> None:
        self.store = store
        self.queues = queues
        self.blobs = blobs
        self.clock = clock
        self.max_attempts = max_attempts
        self.max_variable_depth = max_variable_depth
        self.context_ttl = context_ttl
        self._contexts: dict[str, TenantContext] = {}
        # Told (tenant id, count) after each accepted send: the `iep_accepted_total` counter.
        self.on_accepted: list[Callable[[str, int], None]] = list(on_accepted)
        self.templates = templates  # sends by stored template, `strictVariables`

    # ---- tenant rules, cached ---------------------------------------------------------------

    async def context(self, tenant_id: str) -> TenantContext:
        ctx = self._contexts.get(tenant_id)
        if ctx is not None and self.clock.monotonic() - ctx.loaded_at < self.context_ttl:
            return ctx
        tenant = await self.store.get_tenant(tenant_id)
        if tenant is None or not tenant.active:
            raise NotFound("Tenant not found")
        listed = await self.store.list_domains(tenant_id)
        ctx = TenantContext(
            tenant=tenant,
            domains=frozenset(d.domain for d in listed if d.status == "verified"),
            loaded_at=self.clock.monotonic(),
            pending=frozenset(d.domain for d in listed if d.status == "pending"),
        )
        self._contexts[tenant_id] = ctx
        return ctx

    def invalidate(self, tenant_id: str) -> None:
        self._contexts.pop(tenant_id, None)

    # ---- accept ------------------------------------------------------------------------------

    async def accept(
        self,
        principal: Principal,
        req: SendRequest,
        idempotency_header: str | None = None,
        *,
        write: AcceptWrite | None = None,
        origin: str = "api",
    ) -> Accepted | Replayed:
        """Validate and durably accept one message. `write` replaces `store.accept_message`
        for callers that record more in the same transaction (a scheduled job's tick);
        `origin` records how it arrived (api, resend, postmark; SMTP uses `submissions`)."""
        if origin not in ORIGINS:
            raise ValueError(f"unknown origin {origin!r}")
        if idempotency_header is not None:
            if req.idempotency_key is not None and req.idempotency_key != idempotency_header:
                raise ValidationFailed(
                    [FieldError("idempotencyKey", "differs from the Idempotency-Key header")]
                )
            req = msgspec.structs.replace(req, idempotency_key=idempotency_header)
        ctx = await self.context(principal.tenant_id)
        template_fields: dict[str, Any] = {}
        settings = ctx.tenant.settings  # a stored template, strictVariables
        if self.templates and (
            req.template or req.strict_variables or settings.content.strict_variables
        ):
            req, found = await self.templates.prepare_send(principal.tenant_id, req, settings)
            template_fields = template_extra(found)
        try:
            valid = validate_send(
                req,
                ctx.tenant.settings.attachments,
                ctx.domains,
                self.clock.now(),
                max_variable_depth=self.max_variable_depth,
            )
        except SenderNotAllowed as exc:
            raise ctx.sender_refusal(exc) from None
        queue = await self.resolve_queue(principal.tenant_id, req.queue)
        message_id = self.clock.new_id()
        stored = await self.store_attachments(principal.tenant_id, message_id, valid)
        msg = self.new_message(
            principal,
            ctx.tenant,
            req,
            valid,
            message_id,
            stored,
            queue=queue,
            origin=origin,
            **template_fields,
        )
        try:
            with traces.current().span("store.commit", {"iep.tenant_id": principal.tenant_id}):
                result = await (write or self.store.accept_message)(principal.tenant_id, msg)
        except BaseException:
            if stored:
                await self.drop_attachments(principal.tenant_id, message_id)
            raise
        if isinstance(result, Replayed) and stored:
            await self.drop_attachments(principal.tenant_id, message_id)
        if isinstance(result, Accepted):
            for hook in self.on_accepted:
                hook(principal.tenant_id, 1)
        return result

    async def resolve_queue(self, tenant_id: str, name: str | None) -> Queue | None:
        """The named queue of a send (422 naming `queue` when unknown; a draining queue is
        refused with 409 by the accepting transaction, after the idempotency check)."""
        if self.queues is not None:
            return await self.queues.resolve(tenant_id, name)
        if name is not None and name != "default":
            raise ValidationFailed([FieldError("queue", f"unknown queue {name!r}")])
        return None

    def new_message(
        self,
        principal: Principal,
        tenant: Tenant,
        req: SendRequest,
        valid: ValidSend,
        message_id: str,
        stored: tuple[StoredAttachment, ...],
        queue: Queue | None = None,
        **extra: Any,
    ) -> NewMessage:
        if queue is not None:  # the named queue: its rank, retry allowance and row
            extra.setdefault("job_priority", job_rank(queue.priority, req.priority))
            extra.setdefault("queue_id", queue.id)
        max_attempts = self.max_attempts
        if queue is not None and queue.retry_schedule is not None:
            max_attempts = attempts_from(queue.retry_schedule)
        return NewMessage(
            id=message_id,
            to=valid.to,
            cc=valid.cc,
            bcc=valid.bcc,
            from_email=valid.from_email,
            from_name=valid.from_name,
            reply_to=valid.reply_to,
            display_names=valid.names,
            subject=req.subject,
            html_body=req.html_body,
            text_body=req.text_body,
            variables=req.variables,
            metadata=req.metadata,
            category=valid.category,
            priority=req.priority,
            max_attempts=max_attempts,
            idempotency_key=req.idempotency_key,
            body_hash=body_hash(req) if req.idempotency_key else None,
            scheduled_at=ids.iso(valid.scheduled_at) if valid.scheduled_at else None,
            created_at=ids.iso(self.clock.now()),
            attachments=stored,
            sandbox=principal.sandbox or tenant.settings.sandbox,
            queue=req.queue or "default",
            unsubscribe=wants_unsubscribe(req.unsubscribe, req.metadata, tenant.settings),
            tracking=flags_of(req.tracking, tenant.settings.content.tracking),
            **extra,
        )

    async def store_attachments(
        self, tenant_id: str, message_id: str, valid: ValidSend
    ) -> tuple[StoredAttachment, ...]:
        if not valid.attachments:
            return ()
        out = []
        for i, att in enumerate(valid.attachments):
            safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in att.filename)[:100]
            key = f"{tenant_id}/{message_id}/{i}_{safe}"
            out.append(
                StoredAttachment(
                    id=self.clock.new_id(),
                    position=i,
                    filename=att.filename,
                    content_type=att.content_type,
                    size_bytes=len(att.data),
                    storage_key=key,
                )
            )

        def write_all() -> None:
            for meta, att in zip(out, valid.attachments, strict=True):
                self.blobs.put(meta.storage_key, att.data)

        try:
            await asyncio.to_thread(write_all)
        except BaseException:  # e.g. the disk filled up: leave no partial attachments behind
            await self.drop_attachments(tenant_id, message_id)
            raise
        return tuple(out)

    async def drop_attachments(self, tenant_id: str, message_id: str) -> None:
        await asyncio.to_thread(self.blobs.delete_prefix, f"{tenant_id}/{message_id}")

    # ---- read ----------------------------------------------------------------------------------

    async def get(self, tenant_id: str, message_id: str) -> MessageRecord:
        return or_not_found(
            await self.store.get_message(tenant_id, message_id), "Message not found"
        )

    async def list(
        self, tenant_id: str, params: dict[str, str], limit: int = 50, cursor: str | None = None
    ) -> tuple[list[MessageRecord], str | None]:
        f = parse_filter(params, limit, cursor)
        items = await self.store.list_messages(tenant_id, f)
        next_cursor = None
        if len(items) == f.limit:
            last = items[-1]
            next_cursor = encode_cursor(last.created_at, last.id)
        return items, next_cursor

    async def retry(self, tenant_id: str, message_id: str) -> None:
        before = await self.store.retry_message(tenant_id, message_id)
        expect_status(message_id, before, "failed", "Only failed messages can be retried")

    async def cancel(self, tenant_id: str, message_id: str) -> None:
        """Cancel a scheduled or queued message that has not started."""
        after = await self.store.cancel_message(tenant_id, message_id)
        refusal = "Only a scheduled or queued message that has not started sending can be cancelled"
        expect_status(message_id, after, "cancelled", refusal)


def _date_param(name: str, value: str | None, errors: list[FieldError]) -> str | None:
    """An ISO date or date-time; a bare date as `to` includes that whole day."""
    if value is None:
        return None
    bare_date = "T" not in value and len(value) == 10
    try:
        when = ids.parse_iso(value + "T00:00:00Z" if bare_date else value)
    except ValueError:
        errors.append(FieldError(name, "must be an ISO 8601 date or date-time"))
        return None
    if bare_date and name == "to":
        try:
            when += timedelta(days=1)
        except OverflowError:  # to=9999-12-31: the whole last day there is
            return "9999-12-31T23:59:59.999Z"
    return ids.iso(when)


def parse_filter(params: dict[str, str], limit: int, cursor: str | None) -> MessageSearch:
    errors: list[FieldError] = []
    status = params.get("status")
    if status is not None and status not in MESSAGE_STATUSES:
        errors.append(FieldError("status", f"must be one of {', '.join(MESSAGE_STATUSES)}"))
    if not 1 <= limit <= 200:
        errors.append(FieldError("limit", "must be between 1 and 200"))
    created_from = _date_param("from", params.get("from"), errors)
    created_to = _date_param("to", params.get("to"), errors)
    after = decode_cursor(cursor) if cursor else None
    if errors:
        raise ValidationFailed(errors)
    return MessageSearch(
        status=status,
        recipient=params.get("recipient"),
        created_from=created_from,
        created_to=created_to,
        category=params.get("category"),
        tag=params.get("tag"),
        batch_id=params.get("batchId"),
        limit=limit,
        after=(after[0], after[1]) if after else None,
    )
