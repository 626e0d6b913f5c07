"""The compliance parts of the appliance (audit log, GDPR, trusted proxies of key allowlists,
traces), built once for `wiring.wire`."""

from dataclasses import dataclass

from iep_appliance import traces
from iep_appliance.blobs import Blobs
from iep_appliance.clock import Clock
from iep_appliance.config import Config
from iep_appliance.services.audit import AuditService
from iep_appliance.services.gdpr import GdprService
from iep_appliance.store.base import Compaction, Store
from iep_appliance.supervisor import Supervisor


@dataclass(eq=False)
class Compliance:
    audit: AuditService
    gdpr: GdprService
    tracing: traces.Tracing
    trusted_proxies: tuple[str, ...]  # CIDRs whose X-Forwarded-For names the client


def wire_compliance(
    cfg: Config, store: Store, blobs: Blobs, clock: Clock, tasks: Supervisor
) -> Compliance:
    compact = store.compact if isinstance(store, Compaction) else None
    return Compliance(
        audit=AuditService(store, clock, cfg.storage.audit_retention_days),
        gdpr=GdprService(store, blobs, clock, tasks.spawn, compact),
        tracing=traces.configure(cfg.telemetry.otlp_endpoint, cfg.telemetry.service_name),
        trusted_proxies=tuple(cfg.server.trusted_proxies),
    )
