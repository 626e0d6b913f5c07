"""Runtime wiring of issue 18 (audit log, GDPR, IP allowlists, traces), kept out of runtime.py
so the lead's re-wiring touches two lines there: `init(rt)` in `__init__`, `start(rt)` in
`start()`."""

import asyncio
import contextlib
import logging
from typing import Any

from iep_appliance import traces
from iep_appliance.services.audit import AuditService
from iep_appliance.services.gdpr import GdprService

log = logging.getLogger("iep.runtime")


def init(rt: Any) -> None:
    cfg = rt.config
    rt.trusted_proxies = tuple(cfg.server.trusted_proxies)
    rt.tracing = traces.configure(cfg.telemetry.otlp_endpoint, cfg.telemetry.service_name)
    rt.audit = AuditService(rt.store, rt.clock, cfg.storage.audit_retention_days)
    rt.gdpr = GdprService(rt.store, rt.blobs, rt.clock, rt.spawn)


def start(rt: Any) -> None:
    rt.spawn(_purge_audit(rt), "audit-retention")


async def _purge_audit(rt: Any) -> None:
    """Audit entries past `[storage] audit_retention_days`, on the purge interval."""
    stopping: asyncio.Event = rt._stopping
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                stopping.wait(), timeout=rt.config.storage.purge_interval_seconds
            )
        if stopping.is_set():
            return
        try:
            await rt.audit.purge()
        except Exception:
            log.exception("audit.purge_failed")
