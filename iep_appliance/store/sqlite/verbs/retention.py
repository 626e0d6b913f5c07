"""The RetentionStore verbs (store/protocols/retention.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

from iep_appliance.domain.retention import PurgePlan, PurgeStep
from iep_appliance.store.sqlite import inbound as q_inbound
from iep_appliance.store.sqlite import retention as q_retention
from iep_appliance.store.sqlite.store_base import StoreBase


class RetentionVerbs(StoreBase):
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

    async def purge_inbound(self, before: str, limit: int) -> int:
        return await self.db.write(lambda c: q_inbound.purge(c, before, limit))
