"""SqliteStore verbs of issues 8 and 9 (operations): retention, backups, the dashboard's own verbs.

Mixed into SqliteStore (store.py); SQL lives in the per-aggregate modules.
"""

import asyncio
from collections.abc import Callable
from datetime import datetime

from iep_appliance.domain import ids
from iep_appliance.domain.analytics import StatsQuery, StatusCount
from iep_appliance.domain.dashboard import (
    AdminSession,
    AttachmentFile,
    JobRow,
    JobState,
    NamedQueueDepth,
)
from iep_appliance.domain.models import (
    AdminUser,
    Tenant,
)
from iep_appliance.domain.retention import PurgePlan, PurgeStep, SnapshotInfo
from iep_appliance.store.sqlite import dashboard_ops as q_dashboard_ops
from iep_appliance.store.sqlite import operators as q_operators
from iep_appliance.store.sqlite import retention as q_retention
from iep_appliance.store.sqlite import sessions as q_sessions
from iep_appliance.store.sqlite import snapshot as q_snapshot
from iep_appliance.store.sqlite.store_base import StoreBase


class OperationsVerbs(StoreBase):
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

    async def snapshot_attachment_keys(self, path: str) -> list[str]:
        return await asyncio.to_thread(q_snapshot.attachment_keys, path)

    async def snapshot_forget_attachments(self, path: str, keys: list[str]) -> SnapshotInfo:
        return await asyncio.to_thread(q_snapshot.forget_attachments, path, keys)

    async def inspect_snapshot(self, path: str) -> SnapshotInfo:
        return await asyncio.to_thread(q_snapshot.inspect, path)

    def latest_schema_version(self) -> int:
        return q_snapshot.latest_schema_version()

    # ---- dashboard: the verbs live in store/sqlite/dashboard.py (DashboardVerbs, mixed in)

    # -- dashboard (part A): overview, queue page, attachments, operator sessions
    # (SQL in dashboard_ops.py and sessions.py)
    async def dashboard_buckets(
        self, q: StatsQuery, tenant_id: str | None = None
    ) -> list[StatusCount]:
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

    async def dashboard_job_states(self, job_ids: list[int]) -> list[JobState]:
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

    async def admin_session(self, id_hash: str) -> AdminSession | None:
        now = self._now()
        return await self.db.read(lambda c: q_sessions.find(c, id_hash, now))

    async def drop_admin_session(self, id_hash: str) -> None:
        await self.db.write(lambda c: q_sessions.drop(c, id_hash))

    async def drop_admin_sessions_of(self, email: str) -> None:
        await self.db.write(lambda c: q_sessions.drop_of(c, email))

    # -- dashboard (part B): dashboard users and a tenant's active flag (SQL in operators.py)
    async def list_admin_users(self) -> list[AdminUser]:
        return await self.db.read(q_operators.list_users)

    async def get_admin_user(self, user_id: str) -> AdminUser | None:
        return await self.db.read(lambda c: q_operators.get_user(c, user_id))

    async def set_admin_user_role(self, user_id: str, role: str) -> AdminUser | None:
        return await self.db.write(lambda c: q_operators.set_role(c, user_id, role))

    async def set_admin_user_password(self, user_id: str, password_hash: str) -> bool:
        return await self.db.write(lambda c: q_operators.set_password(c, user_id, password_hash))

    async def delete_admin_user(self, user_id: str) -> bool:
        return await self.db.write(lambda c: q_operators.delete_user(c, user_id))

    async def set_tenant_active(self, tenant_id: str, active: bool) -> Tenant | None:
        now = self._now()
        return await self.db.write(
            lambda c: q_operators.set_tenant_active(c, tenant_id, active, now)
        )
