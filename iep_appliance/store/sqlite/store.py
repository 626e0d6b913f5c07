"""SqliteStore: the Store verbs over one SQLite file (WAL, group-commit writer).

The verbs sit in one mixin per aggregate (store/sqlite/verbs/, named as store/protocols/);
this class keeps the lifecycle. It also offers the `Snapshots` (file copies) and `Compaction`
capabilities.
"""

import sqlite3
from collections.abc import Callable

from iep_appliance.clock import Clock
from iep_appliance.store.sqlite import files
from iep_appliance.store.sqlite.db import Database
from iep_appliance.store.sqlite.migrate import migrate
from iep_appliance.store.sqlite.store_base import StoreBase
from iep_appliance.store.sqlite.verbs.analytics import AnalyticsVerbs
from iep_appliance.store.sqlite.verbs.audit import AuditVerbs
from iep_appliance.store.sqlite.verbs.batches import BatchVerbs
from iep_appliance.store.sqlite.verbs.compaction import CompactionVerbs
from iep_appliance.store.sqlite.verbs.dashboard import DashboardVerbs
from iep_appliance.store.sqlite.verbs.dkim import DkimKeyVerbs
from iep_appliance.store.sqlite.verbs.domains import SenderDomainVerbs
from iep_appliance.store.sqlite.verbs.gdpr import GdprVerbs
from iep_appliance.store.sqlite.verbs.inbound import InboundVerbs
from iep_appliance.store.sqlite.verbs.jobs import JobVerbs
from iep_appliance.store.sqlite.verbs.keys import KeyVerbs
from iep_appliance.store.sqlite.verbs.messages import MessageVerbs
from iep_appliance.store.sqlite.verbs.operators import OperatorVerbs
from iep_appliance.store.sqlite.verbs.outbox import OutboxVerbs
from iep_appliance.store.sqlite.verbs.providers import ProviderVerbs
from iep_appliance.store.sqlite.verbs.queues import QueueVerbs
from iep_appliance.store.sqlite.verbs.rate_windows import RateWindowVerbs
from iep_appliance.store.sqlite.verbs.reputation import ReputationVerbs
from iep_appliance.store.sqlite.verbs.retention import RetentionVerbs
from iep_appliance.store.sqlite.verbs.schedules import ScheduleVerbs
from iep_appliance.store.sqlite.verbs.snapshots import SnapshotVerbs
from iep_appliance.store.sqlite.verbs.suppressions import SuppressionVerbs
from iep_appliance.store.sqlite.verbs.templates import TemplateVerbs
from iep_appliance.store.sqlite.verbs.tenants import TenantVerbs
from iep_appliance.store.sqlite.verbs.tracking import TrackingVerbs
from iep_appliance.store.sqlite.verbs.webhooks import WebhookVerbs
from iep_appliance.store.sqlite.verbs.workers import WorkerVerbs

# /ready's probe (DESIGN §10.1): a real commit of about a message's worth of pages, so a
# store without room for one more message does not report itself ready.
READY_PROBE = (
    "INSERT INTO ready_probe (id, probed_at, pad) VALUES (1, ?, zeroblob(?))"
    " ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at, pad = excluded.pad"
)
READY_PROBE_BYTES = 64 * 1024


class SqlVerbs(
    TenantVerbs,
    SenderDomainVerbs,
    DkimKeyVerbs,
    KeyVerbs,
    OperatorVerbs,
    MessageVerbs,
    ProviderVerbs,
    OutboxVerbs,
    JobVerbs,
    WebhookVerbs,
    SuppressionVerbs,
    RateWindowVerbs,
    BatchVerbs,
    QueueVerbs,
    ScheduleVerbs,
    AnalyticsVerbs,
    RetentionVerbs,
    InboundVerbs,
    ReputationVerbs,
    DashboardVerbs,
    TemplateVerbs,
    TrackingVerbs,
    AuditVerbs,
    GdprVerbs,
    WorkerVerbs,
    StoreBase,
):
    """Every Store verb, over `self.db` (a SQLite `Database`, or PostgreSQL's `PgDatabase`,
    which runs the same statements through store/postgres/dialect.py)."""

    def on_enqueue(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)


class SqliteStore(SnapshotVerbs, CompactionVerbs, SqlVerbs):
    """The Store verbs over one SQLite file at `path`, and the `Snapshots` and `Compaction`
    capabilities."""

    def __init__(
        self,
        path: str,
        clock: Clock,
        synchronous: str = "FULL",
        commit_window_ms: float = 0.0,
        webhook_attempts: int = 4,
        node_id: str | None = None,
    ) -> None:
        self.db = Database(path, synchronous, commit_window_ms)
        self.node_id = node_id  # the lease owner this store claims as (None: the only process)
        self.clock = clock
        self._listeners: list[Callable[[str], None]] = []
        self.webhook_attempts = webhook_attempts

    # ---- lifecycle -------------------------------------------------------------------------

    def open_sync(self) -> None:
        """Open and migrate without starting the writer (CLI commands)."""
        files.prepare(self.db.path)  # 0600, its directory 0700, before SQLite creates it
        conn = sqlite3.connect(self.db.path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            files.narrow_side_files(self.db.path)
            migrate(conn)
        finally:
            conn.close()

    async def open(self) -> None:
        self.open_sync()
        self.db.open()

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        now = self._now()
        await self.db.write(lambda c: c.execute(READY_PROBE, (now, READY_PROBE_BYTES)))
