"""The DashboardStore verbs (store/protocols/dashboard.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

from datetime import datetime

from iep_appliance.domain import ids
from iep_appliance.domain.analytics import StatsQuery, StatusCount
from iep_appliance.domain.dashboard import (
    AttachmentFile,
    DeadJob,
    JobRow,
    JobState,
    NamedQueueDepth,
    OutboxItem,
    OutboxMime,
)
from iep_appliance.domain.models import MessageRecord
from iep_appliance.domain.search import MessageSearch, MessageSlice
from iep_appliance.store.sqlite import dashboard as q_dashboard
from iep_appliance.store.sqlite import dashboard_ops as q_dashboard_ops
from iep_appliance.store.sqlite import search
from iep_appliance.store.sqlite.store_base import StoreBase


class DashboardVerbs(StoreBase):
    async def dashboard_messages(self, f: MessageSearch) -> MessageSlice:
        return await self.db.read(lambda c: search.window(c, f))

    async def dashboard_message(self, message_id: str) -> MessageRecord | None:
        return await self.db.read(lambda c: q_dashboard.get_message(c, message_id))

    async def dashboard_tenant_counts(self) -> dict[str, dict[str, int]]:
        return await self.db.read(q_dashboard.tenant_counts)

    async def dashboard_status_count(self, status: str, tenant_id: str | None) -> int:
        return await self.db.read(lambda c: q_dashboard.status_count(c, status, tenant_id))

    async def dashboard_outbox(
        self, limit: int, before: tuple[str, str] | None = None
    ) -> list[OutboxItem]:
        return await self.db.read(lambda c: q_dashboard.list_outbox(c, limit, before))

    async def dashboard_outbox_mime(self, message_id: str) -> OutboxMime | None:
        return await self.db.read(lambda c: q_dashboard.outbox_mime(c, message_id))

    async def dashboard_dead_jobs(self, limit: int, before_id: int | None = None) -> list[DeadJob]:
        return await self.db.read(lambda c: q_dashboard.dead_jobs(c, limit, before_id))

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
