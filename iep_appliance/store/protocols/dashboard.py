"""The operator dashboard's reads and actions across tenants (never reachable by a
tenant's key)."""

from datetime import datetime
from typing import Protocol

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
from iep_appliance.domain.models import (
    MessageRecord,
)
from iep_appliance.domain.search import MessageSearch, MessageSlice


class DashboardStore(Protocol):
    async def dashboard_messages(self, f: MessageSearch) -> MessageSlice:
        """Messages of every tenant (or `f.tenant_id`) matching `f` (domain/search.py), newest
        first, after `f.after`, within the scan window of `f.scan_limit` rows."""

    async def dashboard_message(self, message_id: str) -> MessageRecord | None:
        """One message of any tenant, with its attachments and events."""

    async def dashboard_tenant_counts(self) -> dict[str, dict[str, int]]:
        """Messages by tenant id and status."""

    async def dashboard_status_count(self, status: str, tenant_id: str | None) -> int:
        """Messages in `status` now (of one tenant, or of all with None)."""

    async def dashboard_outbox(
        self, limit: int, before: tuple[str, str] | None = None
    ) -> list[OutboxItem]:
        """Outbox entries newest first, before the (created_at, message_id) last seen."""

    async def dashboard_outbox_mime(self, message_id: str) -> OutboxMime | None:
        """One outbox entry of any tenant."""

    async def dashboard_dead_jobs(self, limit: int, before_id: int | None = None) -> list[DeadJob]:
        """Jobs in the DLQ (state dead), newest first, with the message of send jobs."""

    async def dashboard_buckets(
        self, q: StatsQuery, tenant_id: str | None = None
    ) -> list[StatusCount]:
        """Counts by bucket (`q.group_by`: hour or day) and status from the rollups, of every
        tenant or one."""

    async def dashboard_recent_outcomes(self, since: datetime) -> dict[str, int]:
        """Sent, failed and bounced events since `since` (a bounded window of newest events)."""

    async def dashboard_job_depth(self) -> dict[str, int]:
        """Jobs (send and webhook) by live state: ready, leased, paused, dead."""

    async def dashboard_named_queues(self) -> list[NamedQueueDepth]:
        """Every tenant's named queues with their send jobs by live state."""

    async def dashboard_waiting_jobs(
        self, now: datetime, limit: int, after: tuple[str, int] | None = None
    ) -> list[JobRow]:
        """Jobs due after `now` (scheduled or retrying), soonest first, after (run_at, id)."""

    async def dashboard_job_states(self, job_ids: list[int]) -> list[JobState]:
        """Those of `job_ids` that exist."""

    async def dashboard_discard_jobs(self, job_ids: list[int]) -> int:
        """Dead jobs → done (out of the DLQ for good). Returns how many were dead."""

    async def dashboard_requeue_webhook_jobs(self, job_ids: list[int]) -> int:
        """Dead webhook jobs → ready now with fresh attempts. Returns how many."""

    async def dashboard_attachment(
        self, message_id: str, attachment_id: str
    ) -> AttachmentFile | None: ...
