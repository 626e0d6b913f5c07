"""The Store: every verb IEP needs from durable storage, each one unit of work.

Callers never see a connection, cursor or row: verbs take and return `domain` Structs.
A verb that a tenant's request can reach takes `tenant_id` first and treats another
tenant's id as missing. SQLite (`store/sqlite`) is the first backend; a PostgreSQL one
must pass the same conformance suite (`tests/contract/test_store.py`).

Example:
    accepted = await store.accept_message(tenant.id, new_message)
    jobs = await store.claim_due(now, limit=64, lease=timedelta(minutes=5))
"""

from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any, Protocol

from iep_appliance.domain.analytics import StatsQuery
from iep_appliance.domain.bounces import InboundEffect, InboundMail
from iep_appliance.domain.dashboard import (
    AttachmentFile,
    DashboardFilter,
    DeadJob,
    JobRow,
    MessageSlice,
    NamedQueueDepth,
    OutboxItem,
)
from iep_appliance.domain.models import (
    Accepted,
    AdminUser,
    ApiKey,
    BatchAccepted,
    BatchRecord,
    BatchReplayed,
    Completion,
    Job,
    MessageFilter,
    MessageRecord,
    NewBatch,
    NewMessage,
    Queue,
    QueueStats,
    Replayed,
    Suppression,
    Tenant,
    TenantSettings,
)
from iep_appliance.domain.outbox import OutboxEntry, OutboxFilter
from iep_appliance.domain.ratelimit import Limits, RateDecision
from iep_appliance.domain.retention import PurgePlan, PurgeStep, SnapshotInfo
from iep_appliance.domain.schedules import ScheduledJob, ScheduledRun
from iep_appliance.domain.sender_domains import DkimKeyRecord, DomainCheck
from iep_appliance.domain.webhooks import (
    EndpointChange,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


class Store(Protocol):
    # ---- lifecycle
    async def open(self) -> None:
        """Create the database if needed, apply migrations, start the writer."""

    async def close(self) -> None:
        """Flush pending writes and close every connection."""

    async def ping(self) -> None:
        """A real write probe (raises when the store cannot commit)."""

    def on_enqueue(self, listener: Callable[[str], None]) -> None:
        """Call `listener(run_at)` after a commit that made a job due at `run_at`."""

    # ---- tenants, domains, admin users
    async def is_fresh(self) -> bool: ...
    async def create_tenant(
        self, slug: str, name: str, domains: list[str], settings: TenantSettings | None = None
    ) -> Tenant:
        """Raises Conflict when the slug exists."""

    async def get_tenant(self, tenant_id: str) -> Tenant | None: ...
    async def get_tenant_by_slug(self, slug: str) -> Tenant | None: ...
    async def list_tenants(self) -> list[Tenant]: ...
    async def update_tenant_settings(
        self, tenant_id: str, settings: TenantSettings
    ) -> Tenant | None: ...
    async def allowed_domains(self, tenant_id: str) -> frozenset[str]:
        """The tenant's usable (verified) sender domains."""

    async def add_domain(self, tenant_id: str, domain: str) -> bool:
        """Assign a domain as the operator does: verified at once. False when listed."""

    async def claim_domain(self, tenant_id: str, domain: str) -> str:
        """A tenant adds a domain (pending) in one transaction: "added", "listed" (this
        tenant has it already) or "taken" (another tenant lists it; nothing written)."""

    async def remove_domain(self, tenant_id: str, domain: str) -> bool: ...
    async def create_admin_user(self, email: str, password_hash: str, role: str) -> AdminUser:
        """Raises Conflict when the email exists."""

    async def admin_user_by_email(self, email: str) -> AdminUser | None: ...

    # ---- API keys
    async def create_key(self, key: ApiKey) -> ApiKey: ...
    async def key_by_prefix(self, prefix: str) -> ApiKey | None: ...
    async def list_keys(self, tenant_id: str) -> list[ApiKey]: ...
    async def get_key(self, tenant_id: str, key_id: str) -> ApiKey | None: ...
    async def revoke_key(self, tenant_id: str, key_id: str) -> bool: ...
    async def set_key_expiry(self, tenant_id: str, key_id: str, expires_at: str) -> bool: ...
    async def touch_keys(self, used: dict[str, str]) -> None:
        """Record last_used_at for many keys at once (never one write per request)."""

    # ---- messages
    async def accept_message(self, tenant_id: str, msg: NewMessage) -> Accepted | Replayed:
        """Message + its job + its first event, durably, or the earlier message for a replayed
        idempotency key. Raises Conflict for a reused key with another body."""

    async def get_message(self, tenant_id: str, message_id: str) -> MessageRecord | None: ...
    async def list_messages(self, tenant_id: str, f: MessageFilter) -> list[MessageRecord]: ...
    async def retry_message(self, tenant_id: str, message_id: str) -> str:
        """Failed → queued with attempts reset. Returns the prior status ('' = not found)."""

    async def suppressed_among(self, tenant_id: str, emails: list[str]) -> list[str]: ...

    async def save_outbox(self, tenant_id: str, message_id: str, mime: bytes) -> None: ...
    async def get_outbox(self, tenant_id: str, message_id: str) -> bytes | None: ...
    async def list_outbox(self, limit: int = 50) -> list[tuple[str, str, str, int]]: ...
    async def tenant_outbox(self, tenant_id: str, f: OutboxFilter) -> list[OutboxEntry]:
        """The tenant's outbox, newest first, filtered (GET /v1/outbox, issue 15)."""

    async def clear_outbox(self, tenant_id: str) -> int:
        """Delete the tenant's outbox copies (their messages stay). Returns how many."""

    # ---- jobs
    async def claim_due(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        lane: int = 0,
        lane_from: int = 0,
        hold_queues: tuple[str, ...] = (),
        hold_until: datetime | None = None,
    ) -> list[Job]:
        """Lease up to `limit` due jobs (rank, then age); their messages → processing.

        `lane` of them come from the fair-share lane: ranks ≥ `lane_from`, wrapping to the top
        (domain/queues.py). Jobs of paused queues are never claimed; due jobs of `hold_queues`
        (over their rate limit) wait until `hold_until` instead."""

    async def load_for_send(self, message_ids: list[str]) -> dict[str, MessageRecord]: ...
    async def finish_sends(self, completions: list[Completion]) -> None:
        """Record send outcomes (job, message, events, bounces, webhook jobs) in one commit."""

    async def release(self, jobs: list[Job]) -> None:
        """Hand unstarted claims back (shutdown); they do not count as attempts."""

    async def bury_job(self, job_id: int, error: str) -> None:
        """Dead-letter a claimed job that cannot run (a kind nothing handles)."""

    async def fail_job(self, job: Job, error: str, retry_at: datetime | None) -> None:
        """A claimed job whose handling crashed (the attempt counts, §10.1): ready again at
        `retry_at`, or dead when None. A send job's message follows: `queued` with a
        `retry_scheduled` event, or `failed` with `failed` and `dlq` events. Only the job
        and message rows are touched, so it records what a richer write could not."""

    async def release_all_leases(self) -> int:
        """Single node start: every lease is stale."""

    async def release_expired_leases(self, now: datetime, keep: Collection[int] = ()) -> int:
        """Make expired leases claimable again, except those of the jobs in `keep` (still
        being worked on here, e.g. a completion waiting for the store to commit again)."""

    async def next_run_at(self) -> datetime | None: ...
    async def queue_depth(self) -> dict[str, int]: ...
    async def oldest_ready_at(self, now: datetime) -> datetime | None: ...
    async def count_due(self, now: datetime) -> int:
        """Send jobs ready with run_at <= now (issue 9: the backlog gauge and its alert)."""

    # ---- webhooks, suppressions, rate windows (issue 6: tenant services)
    # webhooks (endpoints, delivery attempts, re-sends):
    async def create_webhook(self, endpoint: WebhookEndpoint) -> WebhookEndpoint: ...
    async def list_webhooks(
        self, tenant_id: str, limit: int, after: tuple[str, str] | None
    ) -> list[WebhookEndpoint]:
        """Oldest first, after the (created_at, id) of the last one seen."""

    async def get_webhook(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None: ...
    async def update_webhook(
        self, tenant_id: str, endpoint_id: str, change: EndpointChange
    ) -> WebhookEndpoint | None:
        """Apply `change` (a new secret keeps the old one until `old_secret_until`)."""

    async def delete_webhook(self, tenant_id: str, endpoint_id: str) -> bool:
        """Delete the endpoint and its attempts; its unclaimed (and dead-lettered) events
        are cancelled: done with "endpoint deleted", never in the DLQ."""

    async def record_webhook_attempt(self, attempt: WebhookAttempt) -> bool:
        """One attempt + its job's next state (done, retry at next_retry_at, dead) + the
        endpoint's health, in one commit. True when this attempt disabled the endpoint."""

    async def cancel_webhook_job(self, job_id: int, reason: str) -> None:
        """A claimed webhook job whose endpoint was deleted: done with `reason`, not dead."""

    async def drop_webhook_job(self, job_id: int, reason: str) -> None:
        """A webhook job whose endpoint is inactive: dead, no attempt recorded."""

    async def list_webhook_deliveries(
        self, tenant_id: str, endpoint_id: str, limit: int, before: tuple[str, str] | None
    ) -> list[WebhookDelivery]:
        """Newest first, before the (created_at, id) of the last one seen."""

    async def get_webhook_delivery(
        self, tenant_id: str, endpoint_id: str, delivery_id: str
    ) -> WebhookDelivery | None: ...
    async def resend_webhook_delivery(
        self, tenant_id: str, endpoint_id: str, delivery_id: str, max_attempts: int
    ) -> WebhookDelivery | None:
        """Enqueue the delivery's event again with the same `webhook-id`. None when there is
        no such delivery; raises Conflict when its event is no longer stored."""

    # suppressions, sender domains, tenant settings, rate windows:
    async def list_suppressions(
        self, tenant_id: str, search: str | None, after: str, limit: int
    ) -> list[Suppression]:
        """A page in address order after the address `after` ('' = first page); `search`
        matches a substring of the (lower-cased) address."""

    async def add_suppressions(
        self, tenant_id: str, emails: list[str], reason: str
    ) -> list[Suppression]:
        """Suppress lower-cased `emails`; an existing entry is kept as it is. Returns each."""

    async def remove_suppression(self, tenant_id: str, email: str) -> bool:
        """Un-suppress (and reset its hard-bounce count). False when it was not listed."""

    async def list_domains(self, tenant_id: str) -> list[tuple[str, str, str]]:
        """(domain, status, created_at) of the tenant's sender domains; status is
        "verified" (usable in `from`) or "pending"."""

    async def patch_tenant(
        self, tenant_id: str, name: str, settings: TenantSettings
    ) -> Tenant | None: ...
    async def load_rate_windows(self, starts: dict[str, str]) -> list[tuple[str, str, int]]:
        """(tenant_id, window, count) of every window that starts at `starts[window]`."""

    async def add_rate_counts(
        self, deltas: dict[tuple[str, str, str], int], purge_before: dict[str, str]
    ) -> None:
        """Add `deltas[(tenant_id, window, start)]` (never below 0) and drop ended windows."""

    # ---- worker processes sharing this store (issue 19) -----------------------------------
    node_id: str | None  # the lease owner claims record (None: a single-process server)

    async def note_change(self, kind: str, ref: str) -> int:
        """Append to the change feed (a key, tenant or queue changed); its id."""

    async def last_change(self) -> int:
        """The newest change id (0 when none)."""

    async def changes_after(self, after: int) -> list[tuple[int, str, str]]:
        """(id, kind, ref) of the changes after `after`, oldest first (at most 1,000)."""

    async def purge_changes(self, before: datetime) -> int:
        """Drop changes noted before `before`."""

    async def reserve_rate(self, tenant_id: str, limits: "Limits", n: int) -> "RateDecision":
        """Decide over the tenant's current windows and add `n` when allowed, atomically
        across every process on the store."""

    async def refund_rate(self, tenant_id: str, n: int) -> None:
        """Give `n` back to the tenant's current windows (never below 0)."""

    async def release_owned_leases(self, owner: str, current_owners: list[str]) -> int:
        """Release `owner`'s leases (and, given the current owners, every lease none of them
        holds); their messages back to queued."""

    # ---- batches, queues, scheduled jobs, analytics (issue 7: workflows)

    # batches, cancellation and named queues:
    async def accept_batch(
        self, tenant_id: str, batch: NewBatch, messages: list[NewMessage]
    ) -> BatchAccepted | BatchReplayed:
        """The batch and all its messages (each with job and event) in one transaction, or the
        earlier batch for a replayed key. Raises Conflict for a reused key with another body
        or a draining queue, ValidationFailed for a queue deleted meanwhile."""

    async def get_batch(self, tenant_id: str, batch_id: str) -> BatchRecord | None:
        """The batch with its messages counted by status."""

    async def cancel_batch(self, tenant_id: str, batch_id: str) -> int | None:
        """Cancel the batch's messages that have not started; how many (None: no batch)."""

    async def cancel_message(self, tenant_id: str, message_id: str) -> str:
        """Cancel a scheduled or queued message whose job is not leased. Returns 'cancelled',
        the status that forbids it ('processing' while leased), or '' when not found."""

    async def reschedule_message(self, tenant_id: str, message_id: str, scheduled_at: str) -> str:
        """Move a scheduled message whose job is not leased to `scheduled_at` (message and job).
        Returns 'scheduled' when moved, the status that forbids it ('processing' while leased),
        or '' when not found."""

    async def create_queue(self, queue: Queue) -> Queue:
        """Raises Conflict when the tenant has a queue of that name."""

    async def default_queue(self, tenant_id: str) -> Queue:
        """The tenant's `default` queue, created on first use."""

    async def get_queue(self, tenant_id: str, queue_id: str) -> Queue | None: ...
    async def queue_by_name(self, tenant_id: str, name: str) -> Queue | None: ...
    async def list_queues(self, tenant_id: str, after: str, limit: int) -> list[Queue]:
        """By name, after the last name seen."""

    async def tuned_queues(self) -> list[Queue]:
        """Every tenant's queues with a rate limit or a retry override (delivery's view)."""

    async def update_queue(self, queue: Queue) -> Queue | None:
        """New priority / rate / retry schedule; a new priority re-ranks waiting jobs."""

    async def set_queue_state(self, tenant_id: str, queue_id: str, state: str) -> Queue | None:
        """active | paused | draining; pausing parks the queue's waiting jobs."""

    async def delete_queue(self, tenant_id: str, queue_id: str) -> bool:
        """Raises Conflict for `default` or a queue with unfinished jobs."""

    async def queue_stats(self, queue_id: str, now: datetime) -> QueueStats:
        """Depth by job state, oldest due job, outcomes in the last hour (id already scoped)."""

    async def defer_jobs(self, jobs: list[Job], until: datetime, hold: list[str]) -> None:
        """Give back claimed jobs (not attempts) due at `until`, and hold the due backlog of
        the `hold` queues until then (a queue over its rate limit)."""

    # scheduled jobs (recurring sends) and delivery analytics:
    async def create_scheduled_job(self, job: ScheduledJob) -> ScheduledJob: ...
    async def get_scheduled_job(self, tenant_id: str, job_id: str) -> ScheduledJob | None: ...
    async def list_scheduled_jobs(
        self, tenant_id: str, limit: int, after: tuple[str, str] | None
    ) -> list[ScheduledJob]:
        """Oldest first, after the (created_at, id) of the last job seen."""

    async def update_scheduled_job(self, job: ScheduledJob) -> ScheduledJob | None:
        """Replace the editable fields and bump the revision. None when it does not exist."""

    async def delete_scheduled_job(self, tenant_id: str, job_id: str) -> bool:
        """The job and its run records."""

    async def due_scheduled_jobs(self, now: datetime, limit: int) -> list[ScheduledJob]:
        """Active jobs of every tenant whose next_run_at is at or before `now`."""

    async def next_scheduled_run_at(self) -> datetime | None: ...
    async def accept_scheduled_message(
        self,
        tenant_id: str,
        job_id: str,
        revision: int | None,
        tick: str,
        msg: NewMessage,
        next_run_at: str | None,
    ) -> Accepted | Replayed:
        """The message of one tick + the tick's run record + the job's next tick, in one
        transaction; a tick already on record replays its message. `revision` is the job
        revision the tick was computed from (None: a run-now, the schedule stays). Raises
        NotFound when the job is gone, Conflict when a cron tick finds it paused."""

    async def record_scheduled_run(
        self,
        tenant_id: str,
        job_id: str,
        revision: int | None,
        run: ScheduledRun,
        next_run_at: str | None,
    ) -> ScheduledRun:
        """Record a tick whose messages were written by another verb (a batch) or that created
        nothing (`run.error`), and move the schedule. Returns the run on record."""

    async def list_scheduled_runs(
        self, tenant_id: str, job_id: str, limit: int, before: tuple[str, str] | None
    ) -> list[ScheduledRun]:
        """Newest first, before the (created_at, tick) of the last run seen."""

    async def delivery_stats(self, tenant_id: str, q: StatsQuery) -> list[tuple[str, str, int]]:
        """(bucket prefix, status, count) from the hourly rollups over [q.start, q.end)."""

    async def stats_totals(self, tenant_id: str, q: StatsQuery) -> dict[str, int]: ...
    async def message_backlog(self, tenant_id: str) -> dict[str, dict[str, int]]:
        """Messages scheduled, queued or processing, by queue name and status."""

    # ---- retention (issue 9): purge steps, dry-run plan, online snapshots
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

    async def snapshot(
        self, dest: str, progress: Callable[[int, int], None] | None = None
    ) -> SnapshotInfo:
        """A consistent online copy of the whole store into the new file `dest`, while writes
        go on; `progress(done, total)` after each step. Returns the copy's counts."""

    async def snapshot_attachment_keys(self, path: str) -> list[str]:
        """The blob keys the attachment rows of a snapshot file refer to, sorted."""

    async def snapshot_forget_attachments(self, path: str, keys: list[str]) -> SnapshotInfo:
        """Delete from a snapshot file the attachment rows of `keys` (files a purge removed
        after the snapshot); its counts afterwards."""

    async def inspect_snapshot(self, path: str) -> SnapshotInfo:
        """Integrity verdict, schema version and counts of a snapshot file (not this store's
        own data). Raises ValueError when it is not a usable snapshot."""

    def latest_schema_version(self) -> int:
        """The newest schema version this release knows."""

    # ---- dashboard (operator views across tenants; never reachable by a tenant's key)
    async def dashboard_messages(self, f: DashboardFilter) -> MessageSlice:
        """Messages of every tenant (or `f.tenant_id`), newest first, after `f.before`."""

    async def dashboard_message(self, message_id: str) -> MessageRecord | None:
        """One message of any tenant, with its attachments and events."""

    async def dashboard_stats(self, q: StatsQuery) -> list[tuple[str, str, int]]:
        """(hour prefix, status, count) of every tenant from the hourly rollups."""

    async def dashboard_tenant_counts(self) -> dict[str, dict[str, int]]:
        """Messages by tenant id and status."""

    async def dashboard_status_count(self, status: str, tenant_id: str | None) -> int:
        """Messages in `status` now (of one tenant, or of all with None)."""

    async def dashboard_outbox(
        self, limit: int, before: tuple[str, str] | None = None
    ) -> list[OutboxItem]:
        """Outbox entries newest first, before the (created_at, message_id) last seen."""

    async def dashboard_outbox_mime(self, message_id: str) -> tuple[str, bytes] | None:
        """(tenant_id, MIME) of one outbox entry of any tenant."""

    async def dashboard_dead_jobs(self, limit: int, before_id: int | None = None) -> list[DeadJob]:
        """Jobs in the DLQ (state dead), newest first, with the message of send jobs."""

    # -- dashboard (part A): overview, queue page, attachments, operator sessions
    async def dashboard_buckets(
        self, q: StatsQuery, tenant_id: str | None = None
    ) -> list[tuple[str, str, int]]:
        """(bucket prefix, status, count) by `q.group_by` (hour or day) from the rollups, of
        every tenant or one."""

    async def dashboard_recent_outcomes(self, since: datetime) -> dict[str, int]:
        """Sent, failed and bounced events since `since` (a bounded window of newest events)."""

    async def dashboard_job_depth(self) -> dict[str, int]:
        """Jobs (send and webhook) by live state: ready, leased, paused, dead."""

    async def dashboard_named_queues(self) -> list[NamedQueueDepth]:
        """Every tenant's named queues with their send jobs by live state."""

    async def dashboard_waiting_jobs(
        self, now: datetime, limit: int, after: tuple[str, int] | None = None
    ) -> list[JobRow]:
        """Jobs due after `now` (scheduled or retrying), soonest first, after (run_at, id)."""

    async def dashboard_job_states(
        self, job_ids: list[int]
    ) -> list[tuple[int, str, str, str, str]]:
        """(id, kind, ref_id, tenant_id, state) of those of `job_ids` that exist."""

    async def dashboard_discard_jobs(self, job_ids: list[int]) -> int:
        """Dead jobs → done (out of the DLQ for good). Returns how many were dead."""

    async def dashboard_requeue_webhook_jobs(self, job_ids: list[int]) -> int:
        """Dead webhook jobs → ready now with fresh attempts. Returns how many."""

    async def dashboard_attachment(
        self, message_id: str, attachment_id: str
    ) -> AttachmentFile | None: ...
    async def save_admin_session(
        self, id_hash: str, email: str, role: str, expires_at: datetime
    ) -> None:
        """Keep a new operator session (by its id's hash); expired ones are dropped."""

    async def admin_session(self, id_hash: str) -> tuple[str, str, str] | None:
        """(email, role, expires_at) of a live session, or None."""

    async def drop_admin_session(self, id_hash: str) -> None: ...
    async def drop_admin_sessions_of(self, email: str) -> None:
        """Every stored session of an operator (their role or account changed)."""

    # -- dashboard (part B): dashboard users and a tenant's active flag
    async def list_admin_users(self) -> list[AdminUser]:
        """Every dashboard user, by address."""

    async def get_admin_user(self, user_id: str) -> AdminUser | None: ...
    async def set_admin_user_role(self, user_id: str, role: str) -> AdminUser | None:
        """None when there is no such user; Conflict when it would leave no admin."""

    async def set_admin_user_password(self, user_id: str, password_hash: str) -> bool:
        """Replace a user's password hash; False when there is no such user."""

    async def delete_admin_user(self, user_id: str) -> bool:
        """False when there is no such user; Conflict when it is the last admin."""

    async def set_tenant_active(self, tenant_id: str, active: bool) -> Tenant | None:
        """Deactivate or reactivate a tenant; None when there is no such tenant."""


class DeliverabilityStore(Protocol):
    """Issue 16: DKIM keys, DNS checks of sender domains, inbound mail and its effects.

    Domains are lower-cased names; a domain shared by tenants has one set of keys and checks.
    """

    async def dkim_keys(self, domain: str) -> list[DkimKeyRecord]:
        """Every key of `domain` (active first)."""

    async def active_dkim_keys(self) -> list[DkimKeyRecord]:
        """The signing key of every domain that has one."""

    async def next_dkim_keys(self) -> list[DkimKeyRecord]:
        """Keys made by a rotation, waiting for their TXT record."""

    async def keyless_domains(self) -> list[str]:
        """Domains some tenant lists that have no active key yet."""

    async def add_dkim_key(self, key: DkimKeyRecord, only_if_none: bool = False) -> bool:
        """Store `key` (a rotation's key replaces a retired one under its selector). With
        `only_if_none`, False and nothing written when the domain has an active/next key."""

    async def activate_dkim_key(self, domain: str, selector: str) -> bool:
        """The `next` key under `selector` signs; the active one retires. False if none."""

    async def domain_check(self, domain: str) -> DomainCheck | None: ...
    async def save_domain_check(self, check: DomainCheck) -> None: ...
    async def domains_due_for_check(self, before: str, limit: int) -> list[str]:
        """Listed domains last checked before `before` (or never), by name."""

    async def mark_domain_verified(self, domain: str) -> list[str]:
        """DNS verified `domain`: pending rows become verified. Returns those tenants' ids."""

    async def listed_domain_status(self, tenant_id: str, domain: str) -> str | None:
        """'pending' | 'verified' in the tenant's list; None when the tenant does not list it."""

    async def record_inbound(self, mail: InboundMail | None, effects: list[InboundEffect]) -> int:
        """Store `mail` and, in the same transaction, each effect not recorded before (event,
        bounce count or suppression, `bounced` status, webhooks). Returns how many were new."""

    async def inbound_for_message(self, tenant_id: str, message_id: str) -> list[dict[str, Any]]:
        """The inbound mail matched to a message: id, kind, mailFrom, rcptTo, size, summary,
        receivedAt (no raw bytes)."""

    async def inbound_raw(self, tenant_id: str, inbound_id: str) -> bytes | None: ...
    async def purge_inbound(self, before: str, limit: int) -> int:
        """Drop up to `limit` inbound mails received before `before`. Returns how many."""

    async def reputation_counts(self, tenant_id: str, since: str) -> tuple[int, int, int]:
        """(messages sent or bounced, bounced, complaints) of messages created since `since`."""

    async def reputation_holds(self) -> dict[str, tuple[str | None, str | None]]:
        """Tenants ever held: id → (held since or None, last resumed at or None)."""

    async def hold_tenant(self, tenant_id: str, data: dict[str, Any]) -> bool:
        """Hold the tenant's sending and queue its `tenant.paused` webhooks, in one transaction;
        False (nothing written) when it is held already."""

    async def resume_tenant(self, tenant_id: str) -> bool:
        """End the hold (resumed_at = now) and make the held send jobs due now; False when the
        tenant was not held."""

    async def reputation_trend(self, tenant_id: str, since: str) -> list[tuple[str, int, int, int]]:
        """(UTC day, messages sent or bounced, bounced, complaints) per day since `since`."""
