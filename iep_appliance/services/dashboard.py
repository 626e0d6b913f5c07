"""The operator dashboard's use cases: cross-tenant reads for /admin and operator login.

The dashboard is not a tenant: it reads every tenant's messages, outbox and DLQ through the
`dashboard_*` store verbs. Retries go through MessageService like the API's. Login verifies
argon2id hashes in a thread and pays the same cost for an unknown address.
"""

import asyncio
from datetime import datetime, timedelta

import msgspec

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.analytics import StatsQuery, StatusCount, fill_buckets, stats_query
from iep_appliance.domain.cursors import decode_cursor, decode_pair, encode_cursor
from iep_appliance.domain.dashboard import (
    PAGE_SIZE,
    DeadJob,
    JobRow,
    NamedQueueDepth,
    OutboxItem,
)
from iep_appliance.domain.errors import FieldError, ValidationFailed, or_not_found
from iep_appliance.domain.models import MESSAGE_STATUSES, AdminUser, MessageRecord, Tenant
from iep_appliance.domain.preview import Preview, build_preview
from iep_appliance.domain.search import MessageSearch
from iep_appliance.domain.validation import whole_number
from iep_appliance.services.dashboard_actions import OFF_LOOP_BYTES
from iep_appliance.services.messages import _date_param
from iep_appliance.services.passwords import hash_secret_async, verify_secret_async
from iep_appliance.store.base import Store

# What the overview totals and charts (status changes counted by the analytics rollups).
OVERVIEW_STATUSES: tuple[str, ...] = ("queued", "sent", "failed", "bounced")
RECENT_FAILURES = 5
PAST_DAYS_TTL = 300.0


class ProviderHealth(msgspec.Struct, frozen=True):
    name: str
    state: str  # closed | open | half_open | not delivering
    last_error: str | None = None
    error_age_seconds: float | None = None


class Overview(msgspec.Struct, frozen=True):
    tenant: str  # slug of the one tenant shown, '' = all
    today: dict[str, int]
    last_24h: dict[str, int]
    hours: list[tuple[str, dict[str, int]]]  # 24 UTC hours, oldest first
    days: list[tuple[str, dict[str, int]]]  # 30 UTC days, oldest first
    depth: dict[str, int]  # send jobs by live state
    oldest_ready_seconds: float | None
    queues: list[NamedQueueDepth]
    last_minute: dict[str, int]  # sent / failed / bounced in the last 60 s
    providers: list[ProviderHealth]
    failures: list[MessageRecord]  # the newest failed messages
    queued_now: int = 0  # messages queued (waiting to be sent or retried) right now


class TenantRow(msgspec.Struct, frozen=True):
    tenant: Tenant
    counts: dict[str, int]
    total: int


class QueueView(msgspec.Struct, frozen=True):
    depth: dict[str, int]
    oldest_ready_seconds: float | None
    dead: list[DeadJob]
    next_cursor: str | None
    waiting: list[JobRow]  # scheduled and retrying jobs, soonest first
    waiting_cursor: str | None


class MessagePage(msgspec.Struct, frozen=True):
    items: list[MessageRecord]
    next_cursor: str | None


class DashboardService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._dummy_hash: str | None = None
        # (tenant id, chart start) → (monotonic time read, rollup rows before today)
        self._past_days: dict[tuple[str | None, str], tuple[float, list[StatusCount]]]
        self._past_days = {}

    # ---- operators -----------------------------------------------------------------------

    async def authenticate(self, email: str, password: str) -> AdminUser | None:
        """The operator with this email and password, or None. An unknown email costs one
        argon2 verification too, so timing does not tell which addresses exist."""
        user = await self.store.admin_user_by_email(email.strip().lower())
        if user is None:
            if self._dummy_hash is None:
                self._dummy_hash = await hash_secret_async("not-a-password")
            await verify_secret_async(self._dummy_hash, password)
            return None
        return user if await verify_secret_async(user.password_hash, password) else None

    # ---- overview ------------------------------------------------------------------------

    async def overview(self, providers: list[ProviderHealth], tenant: str = "") -> Overview:
        """Counts and charts of every tenant, or of the tenant with slug `tenant`."""
        tenant_id = (await self._tenant_id(tenant)) if tenant else None
        now = self.clock.now()
        q = stats_query(now, group_by="hour")
        hours = fill_buckets(q, await self.store.dashboard_buckets(q, tenant_id))
        midnight = ids.iso(now.replace(hour=0, minute=0, second=0, microsecond=0))
        days = await self._days(now, midnight, tenant_id)
        today = dict.fromkeys(OVERVIEW_STATUSES, 0)
        last_24h = dict.fromkeys(OVERVIEW_STATUSES, 0)
        for start, counts in hours:
            for status in OVERVIEW_STATUSES:
                last_24h[status] += counts.get(status, 0)
                if start >= midnight:
                    today[status] += counts.get(status, 0)
        depth, oldest = await self._depth(now)
        recent = await self.store.dashboard_recent_outcomes(now - timedelta(seconds=60))
        failed = MessageSearch(tenant_id=tenant_id, status="failed", limit=RECENT_FAILURES)
        return Overview(
            tenant=tenant,
            today=today,
            last_24h=last_24h,
            hours=hours,
            days=days,
            depth=depth,
            oldest_ready_seconds=oldest,
            queues=await self.store.dashboard_named_queues(),
            last_minute={s: recent.get(s, 0) for s in ("sent", "failed", "bounced")},
            providers=sorted(providers, key=lambda p: p.name),
            failures=(await self.store.dashboard_messages(failed)).items,
            queued_now=await self.store.dashboard_status_count("queued", tenant_id),
        )

    async def _days(
        self, now: datetime, midnight: str, tenant_id: str | None
    ) -> list[tuple[str, dict[str, int]]]:
        """The 30-day chart: today read live, the 29 days before from a cache refreshed every
        PAST_DAYS_TTL seconds (the overview polls every few seconds; old days barely move)."""
        q = stats_query(now, group_by="day")
        key = (tenant_id, q.start)
        cached = self._past_days.get(key)
        if cached is None or self.clock.monotonic() - cached[0] > PAST_DAYS_TTL:
            past = StatsQuery(group_by="day", start=q.start, end=midnight)
            cached = (self.clock.monotonic(), await self.store.dashboard_buckets(past, tenant_id))
            if len(self._past_days) > 1000:
                self._past_days.clear()
            self._past_days[key] = cached
        today = StatsQuery(group_by="day", start=midnight, end=q.end)
        return fill_buckets(q, cached[1] + await self.store.dashboard_buckets(today, tenant_id))

    async def _tenant_id(self, slug: str) -> str:
        tenant = await self.store.get_tenant_by_slug(slug)
        if tenant is None:
            raise ValidationFailed([FieldError("tenant", f"no tenant {slug!r}")])
        return tenant.id

    async def _depth(self, now: datetime) -> tuple[dict[str, int], float | None]:
        depth = await self.store.dashboard_job_depth()
        oldest = await self.store.oldest_ready_at(now)
        return depth, (now - oldest).total_seconds() if oldest else None

    # ---- messages ------------------------------------------------------------------------

    async def messages(self, params: dict[str, str]) -> MessagePage:
        """Filters `tenant` (slug), `status`, `recipient`, `subject`, `from`/`to` (dates),
        `category`, `tag`, `queue`; `id` finds one message; `cursor` continues a list."""
        errors: list[FieldError] = []
        tenant_id = None
        if slug := params.get("tenant"):
            tenant = await self.store.get_tenant_by_slug(slug)
            if tenant is None:
                errors.append(FieldError("tenant", f"no tenant {slug!r}"))
            else:
                tenant_id = tenant.id
        status = params.get("status") or None
        if status is not None and status not in MESSAGE_STATUSES:
            errors.append(FieldError("status", f"must be one of {', '.join(MESSAGE_STATUSES)}"))
        created_from = _date_param("from", params.get("from") or None, errors)
        created_to = _date_param("to", params.get("to") or None, errors)
        before = decode_cursor(params["cursor"]) if params.get("cursor") else None
        if errors:
            raise ValidationFailed(errors)

        def text(name: str) -> str | None:
            return (params.get(name) or "").strip()[:200] or None

        f = MessageSearch(
            tenant_id=tenant_id,
            status=status,
            recipient=text("recipient"),
            subject=text("subject"),
            created_from=created_from,
            created_to=created_to,
            category=text("category"),
            tag=text("tag"),
            queue=text("queue"),
            message_id=text("id"),
            after=(before[0], before[1]) if before else None,
        )
        found = await self.store.dashboard_messages(f)
        cursor = encode_cursor(*found.resume) if found.resume else None
        return MessagePage(items=found.items, next_cursor=cursor)

    async def message(self, message_id: str) -> MessageRecord:
        return or_not_found(await self.store.dashboard_message(message_id), "Message not found")

    # ---- outbox --------------------------------------------------------------------------

    async def outbox(self, cursor: str | None) -> tuple[list[OutboxItem], str | None]:
        items = await self.store.dashboard_outbox(PAGE_SIZE, decode_pair(cursor))
        last = items[-1] if len(items) == PAGE_SIZE else None
        return items, encode_cursor(last.created_at, last.message_id) if last else None

    async def preview(self, message_id: str) -> tuple[str, Preview]:
        """(tenant_id, preview) of one outbox entry."""
        found = or_not_found(
            await self.store.dashboard_outbox_mime(message_id), "No outbox entry for this message"
        )
        mime = found.mime
        if len(mime) > OFF_LOOP_BYTES:  # parsing megabytes would stall sends and accepts
            return found.tenant_id, await asyncio.to_thread(build_preview, mime)
        return found.tenant_id, build_preview(mime)

    # ---- tenants and the queue -----------------------------------------------------------

    async def tenants(self) -> list[TenantRow]:
        counts = await self.store.dashboard_tenant_counts()
        return [
            TenantRow(
                tenant=t, counts=counts.get(t.id, {}), total=sum(counts.get(t.id, {}).values())
            )
            for t in await self.store.list_tenants()
        ]

    async def queue(self, cursor: str | None, waiting_cursor: str | None = None) -> QueueView:
        """The DLQ (newest first, `cursor` = last job id seen) and the jobs waiting for a
        later time (soonest first, `waiting_cursor` from the previous page)."""
        before = None
        if cursor:
            before = whole_number(cursor)
            if before is None:
                raise ValidationFailed([FieldError("cursor", "not a valid cursor")])
        after = None
        if waiting_cursor:
            at, job_id = decode_cursor(waiting_cursor)
            number = whole_number(job_id)
            if number is None:
                raise ValidationFailed([FieldError("waiting", "not a valid cursor")])
            after = (at, number)
        now = self.clock.now()
        depth, oldest = await self._depth(now)
        dead = await self.store.dashboard_dead_jobs(PAGE_SIZE, before)
        next_cursor = str(dead[-1].id) if len(dead) == PAGE_SIZE else None
        waiting = await self.store.dashboard_waiting_jobs(now, PAGE_SIZE, after)
        last = waiting[-1] if len(waiting) == PAGE_SIZE else None
        return QueueView(
            depth=depth,
            oldest_ready_seconds=oldest,
            dead=dead,
            next_cursor=next_cursor,
            waiting=waiting,
            waiting_cursor=encode_cursor(last.run_at, str(last.id)) if last else None,
        )

    async def tenant_slugs(self) -> dict[str, str]:
        return {t.id: t.slug for t in await self.store.list_tenants()}
