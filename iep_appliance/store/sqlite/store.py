"""SqliteStore: the Store verbs over one SQLite file (WAL, group-commit writer)."""

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.analytics import StatsQuery
from iep_appliance.domain.dashboard import AttachmentFile, JobRow, NamedQueueDepth
from iep_appliance.domain.errors import Conflict
from iep_appliance.domain.models import (
    Accepted,
    AdminUser,
    ApiKey,
    BatchAccepted,
    BatchRecord,
    BatchReplayed,
    Completion,
    Job,
    MessageFilter,
    MessageRecord,
    NewBatch,
    NewMessage,
    Queue,
    QueueStats,
    Replayed,
    Suppression,
    Tenant,
    TenantSettings,
)
from iep_appliance.domain.retention import PurgePlan, PurgeStep, SnapshotInfo
from iep_appliance.domain.schedules import ScheduledJob, ScheduledRun
from iep_appliance.domain.webhooks import (
    EndpointChange,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from iep_appliance.store.sqlite import analytics as q_analytics
from iep_appliance.store.sqlite import batches as q_batches
from iep_appliance.store.sqlite import dashboard_ops as q_dashboard_ops
from iep_appliance.store.sqlite import jobs as q_jobs
from iep_appliance.store.sqlite import keys as q_keys
from iep_appliance.store.sqlite import messages as q_messages
from iep_appliance.store.sqlite import operators as q_operators
from iep_appliance.store.sqlite import queues as q_queues
from iep_appliance.store.sqlite import rate_windows as q_rate_windows
from iep_appliance.store.sqlite import retention as q_retention
from iep_appliance.store.sqlite import scheduled_jobs as q_scheduled
from iep_appliance.store.sqlite import sessions as q_sessions
from iep_appliance.store.sqlite import snapshot as q_snapshot
from iep_appliance.store.sqlite import suppressions as q_suppressions
from iep_appliance.store.sqlite import tenants as q_tenants
from iep_appliance.store.sqlite import webhooks as q_webhooks
from iep_appliance.store.sqlite.dashboard import DashboardVerbs
from iep_appliance.store.sqlite.db import Database
from iep_appliance.store.sqlite.migrate import migrate

# Batches larger than this are written in a transaction of their own, off the event loop.
ALONE_FROM = 200


class SqliteStore(DashboardVerbs):
    def __init__(
        self,
        path: str,
        clock: Clock,
        synchronous: str = "FULL",
        commit_window_ms: float = 0.0,
        webhook_attempts: int = 4,
    ) -> None:
        self.db = Database(path, synchronous, commit_window_ms)
        self.clock = clock
        self._listeners: list[Callable[[str], None]] = []
        self.webhook_attempts = webhook_attempts

    # ---- lifecycle -------------------------------------------------------------------------

    def open_sync(self) -> None:
        """Open and migrate without starting the writer (CLI commands)."""
        from pathlib import Path

        Path(self.db.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.db.path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            migrate(conn)
        finally:
            conn.close()

    async def open(self) -> None:
        self.open_sync()
        self.db.open()

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        await self.db.write(lambda c: c.execute("PRAGMA user_version").fetchone())

    def on_enqueue(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def _notify(self, run_at: str) -> None:
        for listener in self._listeners:
            listener(run_at)

    def _now(self) -> str:
        return ids.iso(self.clock.now())

    def new_id(self) -> str:
        return self.clock.new_id()

    # ---- tenants ---------------------------------------------------------------------------

    async def is_fresh(self) -> bool:
        return await self.db.read(q_tenants.is_fresh)

    async def create_tenant(
        self, slug: str, name: str, domains: list[str], settings: TenantSettings | None = None
    ) -> Tenant:
        tenant_id, now = self.new_id(), self._now()

        def fn(conn: sqlite3.Connection) -> Tenant:
            if q_tenants.get_tenant_by_slug(conn, slug) is not None:
                raise Conflict(f"A tenant with slug {slug!r} already exists")
            return q_tenants.insert_tenant(
                conn, tenant_id, slug, name, settings or TenantSettings(), domains, now
            )

        return await self.db.write(fn)

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        return await self.db.read(lambda c: q_tenants.get_tenant(c, tenant_id))

    async def get_tenant_by_slug(self, slug: str) -> Tenant | None:
        return await self.db.read(lambda c: q_tenants.get_tenant_by_slug(c, slug))

    async def list_tenants(self) -> list[Tenant]:
        return await self.db.read(q_tenants.list_tenants)

    async def update_tenant_settings(
        self, tenant_id: str, settings: TenantSettings
    ) -> Tenant | None:
        now = self._now()
        return await self.db.write(lambda c: q_tenants.update_settings(c, tenant_id, settings, now))

    async def allowed_domains(self, tenant_id: str) -> frozenset[str]:
        found = await self.db.read(lambda c: q_tenants.list_domains(c, tenant_id))
        return frozenset(d for d, _v, _c in found)

    async def list_domains(self, tenant_id: str) -> list[tuple[str, bool, str]]:
        return await self.db.read(lambda c: q_tenants.list_domains(c, tenant_id))

    async def add_domain(self, tenant_id: str, domain: str) -> bool:
        now = self._now()
        return await self.db.write(lambda c: q_tenants.add_domain(c, tenant_id, domain, now))

    async def remove_domain(self, tenant_id: str, domain: str) -> bool:
        return await self.db.write(lambda c: q_tenants.remove_domain(c, tenant_id, domain))

    async def create_admin_user(self, email: str, password_hash: str, role: str) -> AdminUser:
        user = AdminUser(
            id=self.new_id(),
            email=email.lower(),
            password_hash=password_hash,
            role=role,
            created_at=self._now(),
        )

        def fn(conn: sqlite3.Connection) -> AdminUser:
            if q_tenants.admin_user_by_email(conn, user.email) is not None:
                raise Conflict(f"An admin user {user.email!r} already exists")
            q_tenants.insert_admin_user(conn, user)
            return user

        return await self.db.write(fn)

    async def admin_user_by_email(self, email: str) -> AdminUser | None:
        return await self.db.read(lambda c: q_tenants.admin_user_by_email(c, email))

    # ---- keys ------------------------------------------------------------------------------

    async def create_key(self, key: ApiKey) -> ApiKey:
        return await self.db.write(lambda c: q_keys.insert_key(c, key))

    async def key_by_prefix(self, prefix: str) -> ApiKey | None:
        return await self.db.read(lambda c: q_keys.key_by_prefix(c, prefix))

    async def list_keys(self, tenant_id: str) -> list[ApiKey]:
        return await self.db.read(lambda c: q_keys.list_keys(c, tenant_id))

    async def get_key(self, tenant_id: str, key_id: str) -> ApiKey | None:
        return await self.db.read(lambda c: q_keys.get_key(c, tenant_id, key_id))

    async def revoke_key(self, tenant_id: str, key_id: str) -> bool:
        return await self.db.write(lambda c: q_keys.revoke_key(c, tenant_id, key_id))

    async def set_key_expiry(self, tenant_id: str, key_id: str, expires_at: str) -> bool:
        return await self.db.write(lambda c: q_keys.set_expiry(c, tenant_id, key_id, expires_at))

    async def touch_keys(self, used: dict[str, str]) -> None:
        if used:
            await self.db.write(lambda c: q_keys.touch_keys(c, used))

    # ---- messages --------------------------------------------------------------------------

    async def accept_message(self, tenant_id: str, msg: NewMessage) -> Accepted | Replayed:
        result = await self.db.write(lambda c: q_messages.accept_message(c, tenant_id, msg))
        if isinstance(result, Accepted):
            self._notify(msg.scheduled_at or msg.created_at)
        return result

    async def get_message(self, tenant_id: str, message_id: str) -> MessageRecord | None:
        return await self.db.read(lambda c: q_messages.get_message(c, tenant_id, message_id))

    async def list_messages(self, tenant_id: str, f: MessageFilter) -> list[MessageRecord]:
        return await self.db.read(lambda c: q_messages.list_messages(c, tenant_id, f))

    async def retry_message(self, tenant_id: str, message_id: str) -> str:
        now = self._now()
        before = await self.db.write(
            lambda c: q_messages.retry_message(c, tenant_id, message_id, now)
        )
        if before == "failed":
            self._notify(now)
        return before

    async def suppressed_among(self, tenant_id: str, emails: list[str]) -> list[str]:
        return await self.db.read(lambda c: q_messages.suppressed_among(c, tenant_id, emails))

    async def save_outbox(self, tenant_id: str, message_id: str, mime: bytes) -> None:
        now = self._now()
        await self.db.write(lambda c: q_messages.save_outbox(c, tenant_id, message_id, mime, now))

    async def get_outbox(self, tenant_id: str, message_id: str) -> bytes | None:
        return await self.db.read(lambda c: q_messages.get_outbox(c, tenant_id, message_id))

    async def list_outbox(self, limit: int = 50) -> list[tuple[str, str, str, int]]:
        return await self.db.read(lambda c: q_messages.list_outbox(c, limit))

    # ---- jobs ------------------------------------------------------------------------------

    async def claim_due(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        lane: int = 0,
        lane_from: int = 0,
        hold_queues: tuple[str, ...] = (),
        hold_until: datetime | None = None,
    ) -> list[Job]:
        now_s, until = ids.iso(now), ids.iso(now + lease)
        hold_s = ids.iso(hold_until) if hold_until else None
        return await self.db.write(
            lambda c: q_jobs.claim_due(c, now_s, until, limit, lane, lane_from, hold_queues, hold_s)
        )

    async def load_for_send(self, message_ids: list[str]) -> dict[str, MessageRecord]:
        return await self.db.read(lambda c: q_messages.load_for_send(c, message_ids))

    async def finish_sends(self, completions: list[Completion]) -> None:
        now = self._now()
        attempts = self.webhook_attempts

        def fn(conn: sqlite3.Connection) -> list[str]:
            wake = []
            for c in completions:
                q_jobs.finish_send(conn, c, now, attempts)
                if c.retry_at:
                    wake.append(c.retry_at)
                if c.webhook_event:
                    wake.append(now)
            return wake

        for run_at in await self.db.write(fn):
            self._notify(run_at)

    async def release(self, jobs: list[Job]) -> None:
        now = self._now()
        await self.db.write(lambda c: q_jobs.release(c, jobs, now))

    async def release_all_leases(self) -> int:
        now = self._now()
        return await self.db.write(lambda c: q_jobs.release_all(c, now))

    async def release_expired_leases(self, now: datetime) -> int:
        now_s = ids.iso(now)
        n = await self.db.write(lambda c: q_jobs.release_expired(c, now_s))
        if n:
            self._notify(now_s)
        return n

    async def next_run_at(self) -> datetime | None:
        value = await self.db.read(q_jobs.next_run_at)
        return ids.parse_iso(value) if value else None

    async def count_due(self, now: datetime) -> int:  # issue 9: monitoring
        now_s = ids.iso(now)
        return await self.db.read(lambda c: q_jobs.count_due(c, now_s))

    async def queue_depth(self) -> dict[str, int]:
        return await self.db.read(q_jobs.depth)

    async def oldest_ready_at(self, now: datetime) -> datetime | None:
        now_s = ids.iso(now)
        value = await self.db.read(lambda c: q_jobs.oldest_ready(c, now_s))
        return ids.parse_iso(value) if value else None

    # ---- webhooks, suppressions, rate windows (issue 6: tenant services) -----------------------
    # webhooks (endpoints, delivery attempts, re-sends):

    async def create_webhook(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        return await self.db.write(lambda c: q_webhooks.insert_endpoint(c, endpoint))

    async def list_webhooks(
        self, tenant_id: str, limit: int, after: tuple[str, str] | None
    ) -> list[WebhookEndpoint]:
        return await self.db.read(lambda c: q_webhooks.list_endpoints(c, tenant_id, limit, after))

    async def get_webhook(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        return await self.db.read(lambda c: q_webhooks.get_endpoint(c, tenant_id, endpoint_id))

    async def update_webhook(
        self, tenant_id: str, endpoint_id: str, change: EndpointChange
    ) -> WebhookEndpoint | None:
        return await self.db.write(
            lambda c: q_webhooks.update_endpoint(c, tenant_id, endpoint_id, change)
        )

    async def delete_webhook(self, tenant_id: str, endpoint_id: str) -> bool:
        now = self._now()
        return await self.db.write(
            lambda c: q_webhooks.delete_endpoint(c, tenant_id, endpoint_id, now)
        )

    async def record_webhook_attempt(self, attempt: WebhookAttempt) -> bool:
        now = self._now()
        disabled = await self.db.write(lambda c: q_webhooks.record_attempt(c, attempt, now))
        if attempt.outcome == "retrying" and attempt.delivery.next_retry_at:
            self._notify(attempt.delivery.next_retry_at)
        return disabled

    async def drop_webhook_job(self, job_id: int, reason: str) -> None:
        now = self._now()
        await self.db.write(lambda c: q_webhooks.drop_job(c, job_id, reason, now))

    async def list_webhook_deliveries(
        self, tenant_id: str, endpoint_id: str, limit: int, before: tuple[str, str] | None
    ) -> list[WebhookDelivery]:
        return await self.db.read(
            lambda c: q_webhooks.list_deliveries(c, tenant_id, endpoint_id, limit, before)
        )

    async def get_webhook_delivery(
        self, tenant_id: str, endpoint_id: str, delivery_id: str
    ) -> WebhookDelivery | None:
        return await self.db.read(
            lambda c: q_webhooks.get_delivery(c, tenant_id, endpoint_id, delivery_id)
        )

    async def resend_webhook_delivery(
        self, tenant_id: str, endpoint_id: str, delivery_id: str, max_attempts: int
    ) -> WebhookDelivery | None:
        now = self._now()
        found = await self.db.write(
            lambda c: q_webhooks.resend_delivery(
                c, tenant_id, endpoint_id, delivery_id, now, max_attempts
            )
        )
        if isinstance(found, str):
            raise Conflict(found, {"deliveryId": delivery_id})
        if found is not None:
            self._notify(now)
        return found

    # suppressions, tenant settings, rate windows:

    async def list_suppressions(
        self, tenant_id: str, search: str | None, after: str, limit: int
    ) -> list[Suppression]:
        return await self.db.read(
            lambda c: q_suppressions.list_page(c, tenant_id, search, after, limit)
        )

    async def add_suppressions(
        self, tenant_id: str, emails: list[str], reason: str
    ) -> list[Suppression]:
        now = self._now()
        return await self.db.write(lambda c: q_suppressions.add(c, tenant_id, emails, reason, now))

    async def remove_suppression(self, tenant_id: str, email: str) -> bool:
        return await self.db.write(lambda c: q_suppressions.remove(c, tenant_id, email))

    async def patch_tenant(
        self, tenant_id: str, name: str, settings: TenantSettings
    ) -> Tenant | None:
        now = self._now()
        return await self.db.write(
            lambda c: q_tenants.patch_tenant(c, tenant_id, name, settings, now)
        )

    async def load_rate_windows(self, starts: dict[str, str]) -> list[tuple[str, str, int]]:
        return await self.db.read(lambda c: q_rate_windows.current(c, starts))

    async def add_rate_counts(
        self, deltas: dict[tuple[str, str, str], int], purge_before: dict[str, str]
    ) -> None:
        await self.db.write(lambda c: q_rate_windows.add(c, deltas, purge_before))

    # ---- batches, queues, scheduled jobs, analytics (issue 7: workflows) -----------------------

    # batches, cancellation and named queues:

    async def accept_batch(
        self, tenant_id: str, batch: NewBatch, messages: list[NewMessage]
    ) -> BatchAccepted | BatchReplayed:
        # A big batch runs off the event loop in a transaction of its own (DESIGN §1).
        write = self.db.write_alone if len(messages) > ALONE_FROM else self.db.write
        result = await write(lambda c: q_batches.accept_batch(c, tenant_id, batch, messages))
        if isinstance(result, BatchAccepted):
            self._notify(batch.scheduled_at or batch.created_at)
        return result

    async def get_batch(self, tenant_id: str, batch_id: str) -> BatchRecord | None:
        return await self.db.read(lambda c: q_batches.get_batch(c, tenant_id, batch_id))

    async def cancel_batch(self, tenant_id: str, batch_id: str) -> int | None:
        now = self._now()
        return await self.db.write(lambda c: q_batches.cancel_batch(c, tenant_id, batch_id, now))

    async def cancel_message(self, tenant_id: str, message_id: str) -> str:
        now = self._now()
        return await self.db.write(
            lambda c: q_messages.cancel_message(c, tenant_id, message_id, now)
        )

    async def create_queue(self, queue: Queue) -> Queue:
        return await self.db.write(lambda c: q_queues.insert(c, queue))

    async def default_queue(self, tenant_id: str) -> Queue:
        new_id, now = self.new_id(), self._now()
        return await self.db.write(lambda c: q_queues.ensure_default(c, tenant_id, new_id, now))

    async def get_queue(self, tenant_id: str, queue_id: str) -> Queue | None:
        return await self.db.read(lambda c: q_queues.get(c, tenant_id, queue_id))

    async def queue_by_name(self, tenant_id: str, name: str) -> Queue | None:
        return await self.db.read(lambda c: q_queues.by_name(c, tenant_id, name))

    async def list_queues(self, tenant_id: str, after: str, limit: int) -> list[Queue]:
        return await self.db.read(lambda c: q_queues.list_page(c, tenant_id, after, limit))

    async def tuned_queues(self) -> list[Queue]:
        return await self.db.read(q_queues.list_tuned)

    async def update_queue(self, queue: Queue) -> Queue | None:
        now = self._now()
        return await self.db.write(lambda c: q_queues.update(c, queue, now))

    async def set_queue_state(self, tenant_id: str, queue_id: str, state: str) -> Queue | None:
        now = self._now()
        result = await self.db.write(
            lambda c: q_queues.set_state(c, tenant_id, queue_id, state, now)
        )
        if result is not None and state != "paused":
            self._notify(now)
        return result

    async def delete_queue(self, tenant_id: str, queue_id: str) -> bool:
        return await self.db.write(lambda c: q_queues.delete(c, tenant_id, queue_id))

    async def queue_stats(self, queue_id: str, now: datetime) -> QueueStats:
        now_s, hour_ago = ids.iso(now), ids.iso(now - timedelta(hours=1))
        return await self.db.read(lambda c: q_queues.stats(c, queue_id, now_s, hour_ago))

    async def defer_jobs(self, jobs: list[Job], until: datetime, hold: list[str]) -> None:
        now, until_s = self._now(), ids.iso(until)

        def fn(conn: sqlite3.Connection) -> None:
            q_jobs.release(conn, jobs, now)  # not counted as attempts
            q_queues.set_run_at(conn, [j.id for j in jobs], until_s)
            for queue_id in hold:
                q_queues.hold(conn, queue_id, until_s, now)

        await self.db.write(fn)
        self._notify(until_s)

    # scheduled jobs (recurring sends) and delivery analytics:

    async def create_scheduled_job(self, job: ScheduledJob) -> ScheduledJob:
        return await self.db.write(lambda c: q_scheduled.insert_job(c, job))

    async def get_scheduled_job(self, tenant_id: str, job_id: str) -> ScheduledJob | None:
        return await self.db.read(lambda c: q_scheduled.get_job(c, tenant_id, job_id))

    async def list_scheduled_jobs(
        self, tenant_id: str, limit: int, after: tuple[str, str] | None
    ) -> list[ScheduledJob]:
        return await self.db.read(lambda c: q_scheduled.list_jobs(c, tenant_id, limit, after))

    async def update_scheduled_job(self, job: ScheduledJob) -> ScheduledJob | None:
        return await self.db.write(lambda c: q_scheduled.update_job(c, job))

    async def delete_scheduled_job(self, tenant_id: str, job_id: str) -> bool:
        return await self.db.write(lambda c: q_scheduled.delete_job(c, tenant_id, job_id))

    async def due_scheduled_jobs(self, now: datetime, limit: int) -> list[ScheduledJob]:
        now_s = ids.iso(now)
        return await self.db.read(lambda c: q_scheduled.due_jobs(c, now_s, limit))

    async def next_scheduled_run_at(self) -> datetime | None:
        value = await self.db.read(q_scheduled.next_due)
        return ids.parse_iso(value) if value else None

    async def accept_scheduled_message(
        self,
        tenant_id: str,
        job_id: str,
        revision: int | None,
        tick: str,
        msg: NewMessage,
        next_run_at: str | None,
    ) -> Accepted | Replayed:
        result = await self.db.write(
            lambda c: q_scheduled.accept_run_message(
                c, tenant_id, job_id, revision, tick, msg, msg.created_at, next_run_at
            )
        )
        if isinstance(result, Accepted):
            self._notify(msg.scheduled_at or msg.created_at)
        return result

    async def record_scheduled_run(
        self,
        tenant_id: str,
        job_id: str,
        revision: int | None,
        run: ScheduledRun,
        next_run_at: str | None,
    ) -> ScheduledRun:
        return await self.db.write(
            lambda c: q_scheduled.record_run(c, tenant_id, job_id, revision, run, next_run_at)
        )

    async def list_scheduled_runs(
        self, tenant_id: str, job_id: str, limit: int, before: tuple[str, str] | None
    ) -> list[ScheduledRun]:
        return await self.db.read(
            lambda c: q_scheduled.list_runs(c, tenant_id, job_id, limit, before)
        )

    async def delivery_stats(self, tenant_id: str, q: StatsQuery) -> list[tuple[str, str, int]]:
        return await self.db.read(lambda c: q_analytics.bucket_counts(c, tenant_id, q))

    async def stats_totals(self, tenant_id: str, q: StatsQuery) -> dict[str, int]:
        return await self.db.read(lambda c: q_analytics.totals(c, tenant_id, q))

    async def message_backlog(self, tenant_id: str) -> dict[str, dict[str, int]]:
        return await self.db.read(lambda c: q_analytics.queue_depths(c, tenant_id))

    # ---- retention (issue 9): SQL in store/sqlite/retention.py, copies in snapshot.py --------

    async def purge_tenant_ids(self) -> list[str]:
        return await self.db.read(q_retention.tenant_ids)

    async def purge_messages_step(
        self, tenant_id: str, cutoff: str, after: tuple[str, str] | None, limit: int
    ) -> PurgeStep:
        # Small steps in the group commit (bench/purge.py measured a connection of their own,
        # beside the writer, as slower and worse for requests' p99).
        return await self.db.write(
            lambda c: q_retention.purge_messages(c, tenant_id, cutoff, after, limit)
        )

    async def purge_attachments_step(
        self, cutoff: str, after: tuple[str, str] | None, limit: int
    ) -> PurgeStep:
        return await self.db.write(lambda c: q_retention.purge_attachments(c, cutoff, after, limit))

    async def purge_webhook_jobs_step(self, cutoff: str, limit: int) -> PurgeStep:
        return await self.db.write(lambda c: q_retention.purge_webhook_jobs(c, cutoff, limit))

    async def purge_plan(self, cutoff: str | None, attachment_cutoff: str | None) -> PurgePlan:
        return await self.db.read(lambda c: q_retention.plan(c, cutoff, attachment_cutoff))

    async def snapshot(
        self, dest: str, progress: Callable[[int, int], None] | None = None
    ) -> SnapshotInfo:
        return await asyncio.to_thread(q_snapshot.copy_database, self.db.path, dest, progress)

    async def inspect_snapshot(self, path: str) -> SnapshotInfo:
        return await asyncio.to_thread(q_snapshot.inspect, path)

    def latest_schema_version(self) -> int:
        return q_snapshot.latest_schema_version()

    # ---- dashboard: the verbs live in store/sqlite/dashboard.py (DashboardVerbs, mixed in)

    # -- dashboard (part A): overview, queue page, attachments, operator sessions
    # (SQL in dashboard_ops.py and sessions.py)
    async def dashboard_buckets(
        self, q: StatsQuery, tenant_id: str | None = None
    ) -> list[tuple[str, str, int]]:
        return await self.db.read(lambda c: q_dashboard_ops.buckets(c, q, tenant_id))

    async def dashboard_recent_outcomes(self, since: datetime) -> dict[str, int]:
        since_s = ids.iso(since)
        return await self.db.read(lambda c: q_dashboard_ops.recent_outcomes(c, since_s))

    async def dashboard_job_depth(self) -> dict[str, int]:
        return await self.db.read(q_dashboard_ops.job_depth)

    async def dashboard_named_queues(self) -> list[NamedQueueDepth]:
        return await self.db.read(q_dashboard_ops.named_queues)

    async def dashboard_waiting_jobs(
        self, now: datetime, limit: int, after: tuple[str, int] | None = None
    ) -> list[JobRow]:
        now_s = ids.iso(now)
        return await self.db.read(lambda c: q_dashboard_ops.waiting_jobs(c, now_s, limit, after))

    async def dashboard_job_states(
        self, job_ids: list[int]
    ) -> list[tuple[int, str, str, str, str]]:
        return await self.db.read(lambda c: q_dashboard_ops.job_states(c, job_ids))

    async def dashboard_discard_jobs(self, job_ids: list[int]) -> int:
        now = self._now()
        return await self.db.write(lambda c: q_dashboard_ops.discard_jobs(c, job_ids, now))

    async def dashboard_requeue_webhook_jobs(self, job_ids: list[int]) -> int:
        now = self._now()
        n = await self.db.write(lambda c: q_dashboard_ops.requeue_webhook_jobs(c, job_ids, now))
        if n:
            self._notify(now)
        return n

    async def dashboard_attachment(
        self, message_id: str, attachment_id: str
    ) -> AttachmentFile | None:
        return await self.db.read(
            lambda c: q_dashboard_ops.attachment(c, message_id, attachment_id)
        )

    async def save_admin_session(
        self, id_hash: str, email: str, role: str, expires_at: datetime
    ) -> None:
        now, until = self._now(), ids.iso(expires_at)
        await self.db.write(lambda c: q_sessions.save(c, id_hash, email, role, until, now))

    async def admin_session(self, id_hash: str) -> tuple[str, str, str] | None:
        now = self._now()
        return await self.db.read(lambda c: q_sessions.find(c, id_hash, now))

    async def drop_admin_session(self, id_hash: str) -> None:
        await self.db.write(lambda c: q_sessions.drop(c, id_hash))

    # -- dashboard (part B): dashboard users and a tenant's active flag (SQL in operators.py)
    async def list_admin_users(self) -> list[AdminUser]:
        return await self.db.read(q_operators.list_users)

    async def get_admin_user(self, user_id: str) -> AdminUser | None:
        return await self.db.read(lambda c: q_operators.get_user(c, user_id))

    async def set_admin_user_role(self, user_id: str, role: str) -> AdminUser | None:
        return await self.db.write(lambda c: q_operators.set_role(c, user_id, role))

    async def delete_admin_user(self, user_id: str) -> bool:
        return await self.db.write(lambda c: q_operators.delete_user(c, user_id))

    async def set_tenant_active(self, tenant_id: str, active: bool) -> Tenant | None:
        now = self._now()
        return await self.db.write(
            lambda c: q_operators.set_tenant_active(c, tenant_id, active, now)
        )
