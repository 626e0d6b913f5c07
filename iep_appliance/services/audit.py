"""The audit log: record, query, export and purge. Shared by the API's audit trail,
the dashboard, the CLI and the system's own actions.

`record()` writes one entry and waits for its commit (the audit trail calls it once the
response is out, before the request counts as finished, so a drain waits for it too). A failed
write is logged, never raised into the request whose change already committed.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.audit import (
    AuditActor,
    AuditEntry,
    AuditQuery,
    AuditTarget,
    redact,
    retention_cutoff,
)
from iep_appliance.logs import event
from iep_appliance.services.pacing import run_rounds
from iep_appliance.store.base import Store

log = logging.getLogger("iep.audit")
PURGE_BATCH = 500
EXPORT_PAGE = 500


class AuditService:
    def __init__(self, store: Store, clock: Clock, retention_days: int) -> None:
        self.store = store
        self.clock = clock
        self.retention_days = retention_days

    def entry(
        self,
        tenant_id: str | None,
        actor: AuditActor,
        action: str,
        target: AuditTarget,
        ip: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """An entry stamped now, with any email address in the target redacted."""
        return AuditEntry(
            id=self.clock.new_id(),
            at=ids.iso(self.clock.now()),
            tenant_id=tenant_id,
            actor=actor,
            action=action,
            target=AuditTarget(type=target.type, id=redact(target.id)),
            ip=ip or None,
            details=details or {},
        )

    async def record(
        self,
        tenant_id: str | None,
        actor: AuditActor,
        action: str,
        target: AuditTarget,
        ip: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry | None:
        """Append one entry; None (and a log line) when the store refused it."""
        entry = self.entry(tenant_id, actor, action, target, ip, details)
        try:
            await self.store.append_audit([entry])
        except Exception:
            log.exception("audit.write_failed", extra={"fields": {"action": action}})
            return None
        return entry

    async def query(self, q: AuditQuery) -> list[AuditEntry]:
        return await self.store.list_audit(q)

    async def export(
        self, tenant_id: str | None, since: str | None, until: str | None
    ) -> AsyncIterator[AuditEntry]:
        """Every matching entry, newest first, a page at a time (bounded memory)."""
        before: int | None = None
        while True:
            page = await self.store.list_audit(
                AuditQuery(
                    tenant_id=tenant_id,
                    since=since,
                    until=until,
                    before_seq=before,
                    limit=EXPORT_PAGE,
                )
            )
            for entry in page:
                yield entry
            if len(page) < EXPORT_PAGE:
                return
            before = page[-1].seq

    async def purge(self) -> int:
        """Delete entries past `audit_retention_days` (the only delete the store allows)."""
        cut = retention_cutoff(self.clock.now(), self.retention_days)
        if cut is None:
            return 0
        total = 0
        while True:
            n = await self.store.purge_audit(cut, PURGE_BATCH)
            total += n
            if n < PURGE_BATCH:
                break
        if total:
            event(log, "audit.purged", count=total, before=cut)
            await self.record(
                None,
                AuditActor("system", "retention", "audit retention"),
                "audit.purged",
                AuditTarget("auditLog"),
                details={"count": total, "before": cut},
            )
        return total

    async def run(self, interval_seconds: Callable[[], float], stopping: asyncio.Event) -> None:
        """Purge entries past retention every `interval_seconds()` until `stopping` is set."""
        await run_rounds(stopping, interval_seconds, self.purge, log, "audit.purge_failed")
