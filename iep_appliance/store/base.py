"""The Store: every verb IEP needs from durable storage, each one unit of work.

Callers never see a connection, cursor or row: verbs take and return `domain` Structs (None
for "not found"). A verb that a tenant's request can reach takes `tenant_id` first and treats
another tenant's id as missing. The verbs are grouped by aggregate, one Protocol per module of
`store/protocols/`; `Store` is all of them. SQLite (`store/sqlite`) is the first backend; a
PostgreSQL one must pass the same conformance suite (`tests/contract/`, one fixture
parametrized over backends) and the structural check of `tests/contract/test_store_protocol.py`.
File-level copies are not part of `Store`: they are the `Snapshots` capability
(`store/protocols/snapshots.py`), which a backend may offer. `store/factory.py` opens the
backend `[storage] backend` names.

Example:
    accepted = await store.accept_message(tenant.id, new_message)
    jobs = await store.claim_due(now, limit=64, lease=timedelta(minutes=5))
"""

from typing import Protocol

from iep_appliance.store.protocols.analytics import AnalyticsStore
from iep_appliance.store.protocols.audit import AuditStore
from iep_appliance.store.protocols.batches import BatchStore
from iep_appliance.store.protocols.compaction import Compaction
from iep_appliance.store.protocols.dashboard import DashboardStore
from iep_appliance.store.protocols.dkim import DkimKeyStore
from iep_appliance.store.protocols.domains import SenderDomainStore
from iep_appliance.store.protocols.gdpr import GdprStore
from iep_appliance.store.protocols.inbound import InboundStore
from iep_appliance.store.protocols.jobs import JobStore
from iep_appliance.store.protocols.keys import KeyStore
from iep_appliance.store.protocols.lifecycle import Lifecycle
from iep_appliance.store.protocols.messages import MessageStore
from iep_appliance.store.protocols.operators import OperatorStore
from iep_appliance.store.protocols.outbox import OutboxStore
from iep_appliance.store.protocols.providers import ProviderEventStore, TenantProviderStore
from iep_appliance.store.protocols.queues import QueueStore
from iep_appliance.store.protocols.rate_windows import RateWindowStore
from iep_appliance.store.protocols.reputation import ReputationStore
from iep_appliance.store.protocols.retention import RetentionStore
from iep_appliance.store.protocols.schedules import ScheduleStore
from iep_appliance.store.protocols.snapshots import Snapshots
from iep_appliance.store.protocols.suppressions import SuppressionStore
from iep_appliance.store.protocols.templates import TemplateStore
from iep_appliance.store.protocols.tenants import TenantStore
from iep_appliance.store.protocols.tracking import TrackingStore
from iep_appliance.store.protocols.webhooks import WebhookStore
from iep_appliance.store.protocols.workers import WorkerStore


class Store(
    Lifecycle,
    TenantStore,
    SenderDomainStore,
    DkimKeyStore,
    KeyStore,
    OperatorStore,
    MessageStore,
    ProviderEventStore,
    TenantProviderStore,
    OutboxStore,
    JobStore,
    WebhookStore,
    SuppressionStore,
    RateWindowStore,
    BatchStore,
    QueueStore,
    ScheduleStore,
    AnalyticsStore,
    RetentionStore,
    InboundStore,
    ReputationStore,
    DashboardStore,
    TemplateStore,
    TrackingStore,
    AuditStore,
    GdprStore,
    WorkerStore,
    Protocol,
):
    """Every verb of every aggregate."""


# Every aggregate of `Store`, in the order of its bases (the Protocol check walks this list).
AGGREGATES: tuple[type, ...] = tuple(base for base in Store.__bases__ if base is not Protocol)


class DeliverabilityStore(SenderDomainStore, DkimKeyStore, InboundStore, ReputationStore, Protocol):
    """DKIM keys, DNS checks of sender domains, inbound mail and reputation (a part of `Store`
    that the deliverability services are typed against)."""


__all__ = ["AGGREGATES", "Compaction", "DeliverabilityStore", "Snapshots", "Store"]
