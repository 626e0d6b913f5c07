"""Recurring sends: the use cases behind /v1/scheduled-jobs, and running one tick of a job.

A job's payload is validated at create and update exactly like a real send (addresses,
templates, attachments, sender domain) and again at every run, because the tenant's rules
may have changed. A run creates its messages through `MessageService.accept` (a `message`
payload) or the batch service (a `batch` payload) with the idempotency key
`sched:{job id}:{tick}`; see `services/ticker.py` for when ticks run.

Exactly once per tick: a `message` run writes its run record in the same transaction as its
message (`Store.accept_scheduled_message`), so a committed tick never runs again. A `batch`
run is accepted by the batch service in its own transaction and recorded right after; a crash
between the two re-runs the tick, and the batch's idempotency key replays the batch instead
of creating it twice.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import msgspec

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.cursors import decode_cursor, encode_cursor
from iep_appliance.domain.errors import (
    Conflict,
    FieldError,
    IEPError,
    NotFound,
    PayloadTooLarge,
    SenderNotAllowed,
    ValidationFailed,
    or_not_found,
)
from iep_appliance.domain.models import NewMessage, Principal, SendRequest
from iep_appliance.domain.schedules import (
    CronSpec,
    PayloadKind,
    ScheduledJob,
    ScheduledJobIn,
    ScheduledJobPatch,
    ScheduledRun,
    check_job_fields,
    next_tick,
    tick_key,
)
from iep_appliance.domain.validation import decode_error_path, validate_send
from iep_appliance.logs import event
from iep_appliance.services.messages import MessageService
from iep_appliance.store.base import Store

log = logging.getLogger("iep.scheduled_jobs")


class BatchPort(Protocol):
    """What a `batch` payload needs from the batch service (batches of many recipients)."""

    async def check(self, principal: Principal, payload: dict[str, Any]) -> None:
        """Validate a batch body like a real batch send; errors name paths inside the body."""

    async def accept(
        self, principal: Principal, payload: dict[str, Any], idempotency_key: str
    ) -> tuple[str, int]:
        """Accept the batch durably (replaying an earlier one with the same key).
        Returns (batchId, count)."""


def _prefixed(exc: IEPError, prefix: str) -> IEPError:
    """The same verdict with every field path under `prefix` (`to[0]` → `message.to[0]`)."""
    errors: list[FieldError] = getattr(exc, "errors", None) or []
    moved = [
        FieldError(f"{prefix}.{e.path}" if e.path != "body" else prefix, e.message) for e in errors
    ]
    if isinstance(exc, ValidationFailed):
        return ValidationFailed(moved, exc.detail)
    if isinstance(exc, PayloadTooLarge):
        return PayloadTooLarge(moved, exc.detail)
    if isinstance(exc, SenderNotAllowed):
        exc.errors = moved
    return exc


def decode_message(payload: dict[str, Any]) -> SendRequest:
    """A `message` payload as a send request. Raises ValidationFailed naming `message.*`."""
    try:
        return msgspec.convert(payload, SendRequest)
    except msgspec.ValidationError as exc:
        raise _prefixed(ValidationFailed([decode_error_path(str(exc))]), "message") from None


def _describe(exc: IEPError) -> str:
    errors: list[FieldError] = getattr(exc, "errors", None) or []
    fields = "; ".join(f"{e.path}: {e.message}" for e in errors)
    return f"{exc.detail} ({fields})" if fields else exc.detail or type(exc).__name__


class ScheduledJobService:
    def __init__(
        self,
        store: Store,
        messages: MessageService,
        clock: Clock,
        batches: BatchPort | None = None,
    ) -> None:
        self.store = store
        self.messages = messages
        self.clock = clock
        self.batches = batches
        self.on_change: list[Callable[[], None]] = []

    # ---- validation -----------------------------------------------------------------------------

    async def check_payload(
        self, principal: Principal, kind: PayloadKind, payload: dict[str, Any]
    ) -> None:
        """Validate a payload like a real send of it now. Raises with paths under `kind`."""
        try:
            if kind == "message":
                req = decode_message(payload)
                ctx = await self.messages.context(principal.tenant_id)
                try:
                    validate_send(
                        req,
                        ctx.tenant.settings.attachments,
                        ctx.domains,
                        self.clock.now(),
                        max_variable_depth=self.messages.max_variable_depth,
                    )
                except SenderNotAllowed as exc:
                    raise ctx.sender_refusal(exc) from None
                await self.messages.resolve_queue(principal.tenant_id, req.queue)
            elif self.batches is None:
                raise ValidationFailed(
                    [FieldError("batch", "batch payloads are not available on this server")]
                )
            else:
                await self.batches.check(principal, payload)
        except (ValidationFailed, PayloadTooLarge, SenderNotAllowed) as exc:
            if any(e.path.startswith(f"{kind}.") or e.path == kind for e in exc.errors):
                raise
            raise _prefixed(exc, kind) from None

    async def _validated(
        self,
        principal: Principal,
        name: str,
        cron: str,
        timezone: str,
        message: dict[str, Any] | None,
        batch: dict[str, Any] | None,
    ) -> tuple[str, PayloadKind, dict[str, Any]]:
        """(normalised cron, kind, payload), or every field error in one ValidationFailed."""
        errors, normalised, kind = check_job_fields(name, cron, timezone, message, batch)
        payload = message if message is not None else batch
        if kind is not None and payload is not None:
            try:
                await self.check_payload(principal, kind, payload)
            except ValidationFailed as exc:
                errors.extend(exc.errors)
            except (PayloadTooLarge, SenderNotAllowed):
                if not errors:
                    raise
        if errors or normalised is None or kind is None or payload is None:
            raise ValidationFailed(errors)
        return normalised, kind, payload

    def _changed(self) -> None:
        for listener in self.on_change:
            listener()

    # ---- CRUD -----------------------------------------------------------------------------------

    async def create(self, principal: Principal, data: ScheduledJobIn) -> ScheduledJob:
        cron, kind, payload = await self._validated(
            principal, data.name, data.cron, data.timezone, data.message, data.batch
        )
        now = self.clock.now()
        upcoming = next_tick(CronSpec(cron, data.timezone), now) if data.active else None
        job = ScheduledJob(
            id=self.clock.new_id(),
            tenant_id=principal.tenant_id,
            name=data.name.strip(),
            cron=cron,
            timezone=data.timezone,
            kind=kind,
            payload=payload,
            active=data.active,
            sandbox=principal.sandbox,
            revision=1,
            last_run_at=None,
            next_run_at=ids.iso(upcoming) if upcoming else None,
            created_at=ids.iso(now),
            updated_at=ids.iso(now),
        )
        await self.store.create_scheduled_job(job)
        event(log, "scheduled_job.created", jobId=job.id, cron=cron, timezone=job.timezone)
        self._changed()
        return job

    async def get(self, tenant_id: str, job_id: str) -> ScheduledJob:
        return or_not_found(
            await self.store.get_scheduled_job(tenant_id, job_id), "Scheduled job not found"
        )

    async def list_jobs(
        self, tenant_id: str, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[ScheduledJob], str | None]:
        if not 1 <= limit <= 200:
            raise ValidationFailed([FieldError("limit", "must be between 1 and 200")])
        after = decode_cursor(cursor) if cursor else None
        items = await self.store.list_scheduled_jobs(
            tenant_id, limit, (after[0], after[1]) if after else None
        )
        nxt = encode_cursor(items[-1].created_at, items[-1].id) if len(items) == limit else None
        return items, nxt

    async def update(
        self, principal: Principal, job_id: str, patch: ScheduledJobPatch
    ) -> ScheduledJob:
        job = await self.get(principal.tenant_id, job_id)

        def pick(value: Any, current: Any) -> Any:
            return current if value is msgspec.UNSET else value

        message = job.payload if job.kind == "message" else None
        batch = job.payload if job.kind == "batch" else None
        if patch.message is not msgspec.UNSET:
            message, batch = patch.message, None if patch.batch is msgspec.UNSET else patch.batch
        elif patch.batch is not msgspec.UNSET:
            message, batch = None, patch.batch
        name, timezone = pick(patch.name, job.name), pick(patch.timezone, job.timezone)
        active = pick(patch.active, job.active)
        cron, kind, payload = await self._validated(
            principal, name, pick(patch.cron, job.cron), timezone, message, batch
        )
        now = self.clock.now()
        next_run_at = job.next_run_at
        if not active:
            next_run_at = None
        elif cron != job.cron or timezone != job.timezone or not job.active or not next_run_at:
            # A new schedule (or a resumed one) starts from now: nothing is caught up.
            upcoming = next_tick(CronSpec(cron, timezone), now)
            next_run_at = ids.iso(upcoming) if upcoming else None
        updated = await self.store.update_scheduled_job(
            msgspec.structs.replace(
                job,
                name=name.strip(),
                cron=cron,
                timezone=timezone,
                kind=kind,
                payload=payload,
                active=active,
                next_run_at=next_run_at,
                updated_at=ids.iso(now),
            )
        )
        if updated is None:
            raise NotFound("Scheduled job not found")
        self._changed()
        return updated

    async def delete(self, tenant_id: str, job_id: str) -> None:
        if not await self.store.delete_scheduled_job(tenant_id, job_id):
            raise NotFound("Scheduled job not found")
        self._changed()

    async def runs(
        self, tenant_id: str, job_id: str, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[ScheduledRun], str | None]:
        await self.get(tenant_id, job_id)
        if not 1 <= limit <= 200:
            raise ValidationFailed([FieldError("limit", "must be between 1 and 200")])
        before = decode_cursor(cursor) if cursor else None
        items = await self.store.list_scheduled_runs(
            tenant_id, job_id, limit, (before[0], before[1]) if before else None
        )
        nxt = encode_cursor(items[-1].created_at, items[-1].tick) if len(items) == limit else None
        return items, nxt

    # ---- runs -----------------------------------------------------------------------------------

    async def run_now(self, tenant_id: str, job_id: str) -> ScheduledRun:
        """Run a job once, now, outside its schedule (paused jobs too). Rejections of the
        payload (the tenant's rules changed since) raise, and nothing is recorded."""
        job = await self.get(tenant_id, job_id)
        tick = f"manual:{self.clock.new_id()}"
        try:
            return await self._create(job, tick, revision=None, next_run_at=None)
        except (ValidationFailed, PayloadTooLarge, SenderNotAllowed) as exc:
            if any(e.path.startswith(f"{job.kind}.") for e in exc.errors):
                raise
            raise _prefixed(exc, job.kind) from None

    async def run_tick(
        self, job: ScheduledJob, tick: datetime, next_run_at: datetime | None
    ) -> ScheduledRun | None:
        """Run one cron tick of `job` (as read at `job.revision`) and move its schedule to
        `next_run_at`. A payload the tenant's rules now reject spends the tick: the run is
        recorded with the reason. None when the job was deleted or paused meanwhile."""
        tick_s = ids.iso(tick)
        nxt = ids.iso(next_run_at) if next_run_at else None
        try:
            return await self._create(job, tick_s, job.revision, nxt)
        except (NotFound, Conflict) as exc:
            if isinstance(exc, Conflict) and exc.extra.get("reason") == "inactive":
                return None
            error = _describe(exc)  # tenant gone or inactive, or the key used by someone else
        except (ValidationFailed, PayloadTooLarge, SenderNotAllowed) as exc:
            error = _describe(_prefixed(exc, job.kind))
        event(log, "scheduled_job.run_rejected", jobId=job.id, tick=tick_s, error=error)
        return await self._record_failed(job, tick_s, nxt, error)

    async def record_crashed_tick(
        self, job: ScheduledJob, tick: datetime, next_run_at: datetime | None, error: str
    ) -> ScheduledRun | None:
        """A tick whose run raised is spent like a rejected one (§10.1: no endless retry):
        recorded with `error`, the schedule moved to `next_run_at`."""
        nxt = ids.iso(next_run_at) if next_run_at else None
        return await self._record_failed(job, ids.iso(tick), nxt, error)

    async def _record_failed(
        self, job: ScheduledJob, tick_s: str, nxt: str | None, error: str
    ) -> ScheduledRun | None:
        failed = ScheduledRun(
            scheduled_job_id=job.id,
            tick=tick_s,
            created_at=ids.iso(self.clock.now()),
            error=error,
        )
        try:
            return await self.store.record_scheduled_run(
                job.tenant_id, job.id, job.revision, failed, nxt
            )
        except NotFound:
            return None

    async def _create(
        self, job: ScheduledJob, tick: str, revision: int | None, next_run_at: str | None
    ) -> ScheduledRun:
        principal = Principal(
            tenant_id=job.tenant_id,
            key_id=f"scheduled-job:{job.id}",
            scopes=frozenset({"send"}),
            sandbox=job.sandbox,
        )
        key = tick_key(job.id, tick)
        if job.kind == "message":
            req = msgspec.structs.replace(decode_message(job.payload), idempotency_key=key)

            async def write(tenant_id: str, msg: NewMessage) -> Any:
                return await self.store.accept_scheduled_message(
                    tenant_id, job.id, revision, tick, msg, next_run_at
                )

            result = await self.messages.accept(principal, req, write=write)
            run = ScheduledRun(
                scheduled_job_id=job.id,
                tick=tick,
                created_at=ids.iso(self.clock.now()),
                message_id=result.message_id,
                count=1,
            )
        else:
            if self.batches is None:
                raise ValidationFailed(
                    [FieldError("batch", "batch payloads are not available on this server")]
                )
            batch_id, count = await self.batches.accept(principal, job.payload, key)
            run = await self.store.record_scheduled_run(
                job.tenant_id,
                job.id,
                revision,
                ScheduledRun(
                    scheduled_job_id=job.id,
                    tick=tick,
                    created_at=ids.iso(self.clock.now()),
                    batch_id=batch_id,
                    count=count,
                ),
                next_run_at,
            )
        event(
            log,
            "scheduled_job.ran",
            jobId=job.id,
            tick=tick,
            messageId=run.message_id,
            batchId=run.batch_id,
        )
        return run
