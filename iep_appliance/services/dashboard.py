"""The operator dashboard's use cases: cross-tenant reads for /admin and operator login.

The dashboard is not a tenant: it reads every tenant's messages, outbox and DLQ through the
`dashboard_*` store verbs. Retries go through MessageService like the API's. Login verifies
argon2id hashes in a thread and pays the same cost for an unknown address.
"""

from datetime import datetime

import msgspec

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.analytics import fill_buckets, stats_query
from iep_appliance.domain.dashboard import PAGE_SIZE, DashboardFilter, DeadJob, OutboxItem
from iep_appliance.domain.errors import FieldError, NotFound, ValidationFailed
from iep_appliance.domain.models import MESSAGE_STATUSES, AdminUser, MessageRecord, Tenant
from iep_appliance.domain.preview import Preview, build_preview
from iep_appliance.services.passwords import hash_secret_async, verify_secret_async
from iep_appliance.store.base import Store

# What the overview totals and charts (status changes counted by the analytics rollups).
OVERVIEW_STATUSES: tuple[str, ...] = ("queued", "sent", "failed", "bounced")


class Overview(msgspec.Struct, frozen=True):
    today: dict[str, int]
    last_24h: dict[str, int]
    hours: list[tuple[str, dict[str, int]]]  # 24 UTC hours, oldest first
    depth: dict[str, int]  # jobs by state
    oldest_ready_seconds: float | None
    providers: dict[str, str]


class TenantRow(msgspec.Struct, frozen=True):
    tenant: Tenant
    counts: dict[str, int]
    total: int


class QueueView(msgspec.Struct, frozen=True):
    depth: dict[str, int]
    oldest_ready_seconds: float | None
    dead: list[DeadJob]
    next_cursor: str | None


class MessagePage(msgspec.Struct, frozen=True):
    items: list[MessageRecord]
    next_cursor: str | None


class DashboardService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._dummy_hash: str | None = None

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

    async def overview(self, providers: dict[str, str]) -> Overview:
        now = self.clock.now()
        q = stats_query(now, group_by="hour")
        hours = fill_buckets(q, await self.store.dashboard_stats(q))
        midnight = ids.iso(now.replace(hour=0, minute=0, second=0, microsecond=0))
        today = dict.fromkeys(OVERVIEW_STATUSES, 0)
        last_24h = dict.fromkeys(OVERVIEW_STATUSES, 0)
        for start, counts in hours:
            for status in OVERVIEW_STATUSES:
                last_24h[status] += counts.get(status, 0)
                if start >= midnight:
                    today[status] += counts.get(status, 0)
        depth, oldest = await self._depth(now)
        return Overview(
            today=today,
            last_24h=last_24h,
            hours=hours,
            depth=depth,
            oldest_ready_seconds=oldest,
            providers=dict(sorted(providers.items())),
        )

    async def _depth(self, now: datetime) -> tuple[dict[str, int], float | None]:
        found = await self.store.queue_depth()
        depth = {s: found.get(s, 0) for s in ("ready", "leased", "done", "dead")}
        depth.update({s: n for s, n in sorted(found.items()) if s not in depth})
        oldest = await self.store.oldest_ready_at(now)
        return depth, (now - oldest).total_seconds() if oldest else None

    # ---- messages ------------------------------------------------------------------------

    async def messages(self, params: dict[str, str]) -> MessagePage:
        """Filters `tenant` (slug), `status`, `recipient`; `cursor` = the last id seen."""
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
        if errors:
            raise ValidationFailed(errors)
        f = DashboardFilter(
            tenant_id=tenant_id,
            status=status,
            recipient=(params.get("recipient") or "").strip() or None,
            before_id=params.get("cursor") or None,
        )
        items = await self.store.dashboard_messages(f)
        cursor = items[-1].id if len(items) == f.limit else None
        return MessagePage(items=items, next_cursor=cursor)

    async def message(self, message_id: str) -> MessageRecord:
        found = await self.store.dashboard_message(message_id)
        if found is None:
            raise NotFound("Message not found")
        return found

    # ---- outbox --------------------------------------------------------------------------

    async def outbox(self, cursor: str | None) -> tuple[list[OutboxItem], str | None]:
        before = None
        if cursor:
            at, _, message_id = cursor.partition("~")
            if not message_id:
                raise ValidationFailed([FieldError("cursor", "not a valid cursor")])
            before = (at, message_id)
        items = await self.store.dashboard_outbox(PAGE_SIZE, before)
        last = items[-1] if len(items) == PAGE_SIZE else None
        return items, f"{last.created_at}~{last.message_id}" if last else None

    async def preview(self, message_id: str) -> tuple[str, Preview]:
        """(tenant_id, preview) of one outbox entry."""
        found = await self.store.dashboard_outbox_mime(message_id)
        if found is None:
            raise NotFound("No outbox entry for this message")
        return found[0], build_preview(found[1])

    # ---- tenants and the queue -----------------------------------------------------------

    async def tenants(self) -> list[TenantRow]:
        counts = await self.store.dashboard_tenant_counts()
        return [
            TenantRow(
                tenant=t, counts=counts.get(t.id, {}), total=sum(counts.get(t.id, {}).values())
            )
            for t in await self.store.list_tenants()
        ]

    async def queue(self, cursor: str | None) -> QueueView:
        before = None
        if cursor:
            if not cursor.isdigit():
                raise ValidationFailed([FieldError("cursor", "not a valid cursor")])
            before = int(cursor)
        depth, oldest = await self._depth(self.clock.now())
        dead = await self.store.dashboard_dead_jobs(PAGE_SIZE, before)
        next_cursor = str(dead[-1].id) if len(dead) == PAGE_SIZE else None
        return QueueView(
            depth=depth, oldest_ready_seconds=oldest, dead=dead, next_cursor=next_cursor
        )

    async def tenant_slugs(self) -> dict[str, str]:
        return {t.id: t.slug for t in await self.store.list_tenants()}
