"""Store verbs of GDPR export and erase (DESIGN §10.5); compacting a file afterwards is the
`Compaction` capability (store/protocols/compaction.py)."""

from typing import Any, Protocol

from iep_appliance.domain.gdpr import EraseResult, GdprRequest


class GdprStore(Protocol):
    async def gdpr_export(self, tenant_id: str, email: str) -> dict[str, list[dict[str, Any]]]:
        """Every row of the tenant naming the address (lower-cased), by kind: `messages` (with
        their `events`, `attachments`, `webhookDeliveries`), `suppressions`, `inbound`,
        `bounceCounts`, `scheduledJobs`."""

    async def gdpr_erase(self, tenant_id: str, email: str, email_hash: str) -> EraseResult:
        """In one transaction: delete every message of the tenant naming the address with all
        that hangs off it (events, jobs, outbox and raw copies, attachments, webhook
        deliveries, inbound records), every other row naming it (the ERASE tables), and
        re-key its suppression to `email_hash`. Returns counts per table and the attachment
        files no row refers to any more (the caller deletes them after the commit)."""

    async def save_gdpr_request(self, request: GdprRequest) -> None:
        """Insert or replace a request (its state changes as it runs)."""

    async def list_gdpr_requests(self, tenant_id: str, limit: int) -> list[GdprRequest]:
        """The tenant's requests, newest first."""
