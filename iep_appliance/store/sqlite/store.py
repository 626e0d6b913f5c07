"""SqliteStore: the Store verbs over one SQLite file (WAL, group-commit writer)."""

import sqlite3
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.errors import Conflict
from iep_appliance.domain.models import (
    Accepted,
    AdminUser,
    ApiKey,
    Completion,
    Job,
    MessageFilter,
    MessageRecord,
    NewMessage,
    Replayed,
    Tenant,
    TenantSettings,
)
from iep_appliance.store.sqlite import files
from iep_appliance.store.sqlite import jobs as q_jobs
from iep_appliance.store.sqlite import keys as q_keys
from iep_appliance.store.sqlite import messages as q_messages
from iep_appliance.store.sqlite import tenants as q_tenants
from iep_appliance.store.sqlite.dashboard import DashboardVerbs
from iep_appliance.store.sqlite.db import Database
from iep_appliance.store.sqlite.migrate import migrate
from iep_appliance.store.sqlite.outbox import OutboxVerbs
from iep_appliance.store.sqlite.store_base import StoreBase
from iep_appliance.store.sqlite.verbs_deliverability import DeliverabilityVerbs
from iep_appliance.store.sqlite.verbs_operations import OperationsVerbs
from iep_appliance.store.sqlite.verbs_tenant import TenantServiceVerbs
from iep_appliance.store.sqlite.verbs_workers import WorkerVerbs
from iep_appliance.store.sqlite.verbs_workflows import WorkflowVerbs

# /ready's probe (DESIGN §10.1): a real commit of about a message's worth of pages, so a
# store without room for one more message does not report itself ready.
READY_PROBE = (
    "INSERT INTO ready_probe (id, probed_at, pad) VALUES (1, ?, zeroblob(?))"
    " ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at, pad = excluded.pad"
)
READY_PROBE_BYTES = 64 * 1024


class SqliteStore(
    WorkerVerbs,  # issue 19
    DeliverabilityVerbs,
    TenantServiceVerbs,
    WorkflowVerbs,
    OperationsVerbs,
    DashboardVerbs,
    OutboxVerbs,
    StoreBase,
):
    """The Store verbs over one SQLite file. Verbs of later issues sit in the verbs_*.py
    mixins; this class keeps the lifecycle and the core (tenants, keys, messages, jobs)."""

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
        self.node_id: str | None = None  # issue 19: the lease owner this store claims as

    # ---- lifecycle -------------------------------------------------------------------------

    def open_sync(self) -> None:
        """Open and migrate without starting the writer (CLI commands)."""
        files.prepare(self.db.path)  # 0600, its directory 0700, before SQLite creates it
        conn = sqlite3.connect(self.db.path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            files.narrow_side_files(self.db.path)
            migrate(conn)
        finally:
            conn.close()

    async def open(self) -> None:
        self.open_sync()
        self.db.open()

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        now = self._now()
        await self.db.write(lambda c: c.execute(READY_PROBE, (now, READY_PROBE_BYTES)))

    def on_enqueue(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

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
        return frozenset(d for d, status, _c in found if status == "verified")

    async def list_domains(self, tenant_id: str) -> list[tuple[str, str, str]]:
        return await self.db.read(lambda c: q_tenants.list_domains(c, tenant_id))

    async def add_domain(self, tenant_id: str, domain: str) -> bool:
        now = self._now()
        return await self.db.write(lambda c: q_tenants.add_domain(c, tenant_id, domain, now))

    async def claim_domain(self, tenant_id: str, domain: str) -> str:
        now = self._now()
        return await self.db.write(lambda c: q_tenants.claim_domain(c, tenant_id, domain, now))

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
            lambda c: q_jobs.claim_due(
                c, now_s, until, limit, lane, lane_from, hold_queues, hold_s, self.node_id
            )
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

    async def bury_job(self, job_id: int, error: str) -> None:
        now = self._now()
        await self.db.write(lambda c: q_jobs.bury(c, job_id, error, now))

    async def fail_job(self, job: Job, error: str, retry_at: datetime | None) -> None:
        now = self._now()
        at = ids.iso(retry_at) if retry_at is not None else None
        await self.db.write(lambda c: q_jobs.fail(c, job, error, at, now))
        if at is not None:
            self._notify(at)

    async def release_all_leases(self) -> int:
        now = self._now()
        return await self.db.write(lambda c: q_jobs.release_all(c, now))

    async def release_expired_leases(self, now: datetime, keep: Collection[int] = ()) -> int:
        now_s = ids.iso(now)
        kept = list(keep)
        n = await self.db.write(lambda c: q_jobs.release_expired(c, now_s, kept))
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
