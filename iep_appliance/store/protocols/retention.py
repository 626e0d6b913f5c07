"""Retention: small purge steps and the dry-run plan."""

from typing import Protocol

from iep_appliance.domain.retention import PurgePlan, PurgeStep


class RetentionStore(Protocol):
    async def purge_tenant_ids(self) -> list[str]:
        """Every tenant id (the message purge walks one tenant's index at a time)."""

    async def purge_messages_step(
        self, tenant_id: str, cutoff: str, after: tuple[str, str] | None, limit: int
    ) -> PurgeStep:
        """One small write: scan up to `limit` of a tenant's messages created before `cutoff`
        (resuming after the (created_at, id) `after`) and delete the finished ones last changed
        before it that have no live job, with their events, send jobs, attachments, outbox
        copy, webhook attempts and emptied batch rows. Returns the counts, the resume point and
        the blob keys no row refers to any more."""

    async def purge_attachments_step(
        self, cutoff: str, after: tuple[str, str] | None, limit: int
    ) -> PurgeStep:
        """One small write: delete attachment rows uploaded before `cutoff` whose message is
        finished (the message stays); returns orphaned blob keys as above."""

    async def purge_webhook_jobs_step(self, cutoff: str, limit: int) -> PurgeStep:
        """One small write: delete up to `limit` done/dead webhook jobs last changed before
        `cutoff`."""

    async def purge_plan(self, cutoff: str | None, attachment_cutoff: str | None) -> PurgePlan:
        """What a purge with these cutoffs would remove (None: that window is off). Reads only."""

    async def purge_inbound(self, before: str, limit: int) -> int:
        """Drop up to `limit` inbound mails received before `before`. Returns how many."""
