"""GDPR export and erase for one address of one tenant (DESIGN §10.5).

`export()` gathers everything of the tenant that names the address into one document a person
can read. `erase()` deletes it in one transaction before it answers (so a 202 means the rows
are gone), keeps the address suppressed by its hash, then in the background deletes the
attachment files no row refers to any more and, on a file-based backend (the store's
`Compaction` capability, SQLite), rewrites the file (checkpoint, VACUUM, WAL truncated) so no
page still holds the erased bytes; after that the request is `done`. A server backend
(PostgreSQL) deletes the rows and has no file of the appliance's to rewrite. Erases run one at a
time.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from iep_appliance.blobs import Blobs
from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.gdpr import GdprRequest, subject_address, suppression_hash
from iep_appliance.logs import event
from iep_appliance.store.base import Store

log = logging.getLogger("iep.gdpr")
Spawn = Callable[[Coroutine[Any, Any, None], str], Any]
Compact = Callable[[], Awaitable[None]]


class GdprService:
    def __init__(
        self, store: Store, blobs: Blobs, clock: Clock, spawn: Spawn, compact: Compact | None
    ) -> None:
        """`compact`: the store's file rewrite after an erase (None: nothing to rewrite)."""
        self.store = store
        self.compact = compact
        self.blobs = blobs
        self.clock = clock
        self.spawn = spawn
        self._lock = asyncio.Lock()

    async def export(self, tenant_id: str, email: str) -> dict[str, Any]:
        """Everything of the tenant naming `email`. Raises ValidationFailed (422) naming
        `email` for a malformed address."""
        address = subject_address(email)
        tenant = await self.store.get_tenant(tenant_id)
        found = await self.store.gdpr_export(tenant_id, address)
        return {
            "subject": address,
            "tenant": {"id": tenant_id, "name": tenant.name if tenant else ""},
            "exportedAt": ids.iso(self.clock.now()),
            "about": "Every record this email platform keeps for this tenant that names the"
            " address: messages (with their events, attachments and webhook deliveries),"
            " suppressions, inbound mail, bounce counts and recurring sends.",
            **found,
        }

    async def erase(self, tenant_id: str, email: str) -> GdprRequest:
        """Erase `email` from the tenant; the returned request is `pending` until the files
        and the compaction are done. Raises ValidationFailed (422) for a malformed address."""
        address = subject_address(email)
        hashed = suppression_hash(tenant_id, address)
        request = GdprRequest(
            id=self.clock.new_id(),
            tenant_id=tenant_id,
            kind="erase",
            email_hash=hashed,
            state="pending",
            requested_at=ids.iso(self.clock.now()),
        )
        async with self._lock:
            result = await self.store.gdpr_erase(tenant_id, address, hashed)
        pending = GdprRequest(**{**_fields(request), "counts": result.counts})
        await self.store.save_gdpr_request(pending)
        self.spawn(self._finish(pending, result.orphan_keys), f"gdpr-erase-{request.id}")
        return pending

    async def _finish(self, request: GdprRequest, orphans: tuple[str, ...]) -> None:
        state, error = "done", None
        try:
            async with self._lock:
                await asyncio.to_thread(self._delete_files, orphans)
                if self.compact is not None:
                    await self.compact()
        except Exception as exc:
            log.exception("gdpr.compact_failed", extra={"fields": {"request": request.id}})
            state, error = "failed", type(exc).__name__
        finished = GdprRequest(
            **{
                **_fields(request),
                "state": state,
                "error": error,
                "finished_at": ids.iso(self.clock.now()),
            }
        )
        await self.store.save_gdpr_request(finished)
        event(log, "gdpr.erased", request=request.id, state=state, **request.counts)

    def _delete_files(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            self.blobs.delete(key)

    async def requests(self, tenant_id: str, limit: int = 100) -> list[GdprRequest]:
        return await self.store.list_gdpr_requests(tenant_id, limit)


def _fields(request: GdprRequest) -> dict[str, Any]:
    import msgspec

    return msgspec.structs.asdict(request)
