"""Store verbs of the audit log and of API keys' IP allowlists (DESIGN §10.5)."""

from typing import Protocol

from iep_appliance.domain.audit import AuditEntry, AuditQuery
from iep_appliance.domain.models import ApiKey


class AuditStore(Protocol):
    async def append_audit(self, entries: list[AuditEntry]) -> None:
        """Append entries (one transaction). The log has no update or delete verb: the store
        refuses both (SQLite triggers), except `purge_audit`."""

    async def list_audit(self, q: AuditQuery) -> list[AuditEntry]:
        """A page, newest first (`seq` set on each); a tenant's query never sees another's."""

    async def purge_audit(self, before: str, limit: int) -> int:
        """Delete up to `limit` entries older than `before` (the retention window); returns how
        many. The only delete the store allows."""

    async def set_key_ip_allowlist(
        self, tenant_id: str, key_id: str, allowlist: list[str]
    ) -> ApiKey | None:
        """Replace an active key's CIDR list ([] = anywhere); None when no such key."""
