"""The nouns of IEP as msgspec Structs: tenants, keys, messages, jobs, events.

Pure data. Request bodies use camelCase on the wire (`rename="camel"`); records that
the store returns use snake_case attributes.
"""

from typing import Annotated, Any, Literal

import msgspec

Priority = Literal["high", "normal", "low"]
PRIORITY_RANK: dict[str, int] = {"high": 0, "normal": 1, "low": 2}
Scope = Literal["send", "read", "admin"]
ALL_SCOPES: tuple[str, ...] = ("send", "read", "admin")
MessageStatus = Literal[
    "scheduled", "queued", "processing", "sent", "failed", "bounced", "cancelled"
]
MESSAGE_STATUSES: tuple[str, ...] = (
    "scheduled",
    "queued",
    "processing",
    "sent",
    "failed",
    "bounced",
    "cancelled",
)


# ---- tenant settings (stored as JSON, shown by GET /v1/tenant) -----------------------------

DEFAULT_ALLOWED_TYPES: tuple[str, ...] = (
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain",
    "text/csv",
    "text/calendar",
    "application/zip",
    "application/json",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/octet-stream",
)


class RateLimits(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    max_per_minute: int | None = None
    max_per_hour: int | None = None
    max_per_day: int | None = None


class AttachmentLimits(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    max_file_bytes: int = 10 * 1024 * 1024
    max_total_bytes: int = 25 * 1024 * 1024
    max_count: int = 10
    allowed_types: tuple[str, ...] = DEFAULT_ALLOWED_TYPES


class Routing(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    primary_provider: str | None = None
    fallback_provider: str | None = None


class TenantSettings(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    sandbox: bool = False
    rate_limits: RateLimits = RateLimits()
    attachments: AttachmentLimits = AttachmentLimits()
    routing: Routing = Routing()


class Tenant(msgspec.Struct, frozen=True):
    id: str
    slug: str
    name: str
    active: bool
    settings: TenantSettings
    created_at: str


class ApiKey(msgspec.Struct, frozen=True):
    id: str
    tenant_id: str
    name: str
    prefix: str
    key_hash: str
    scopes: tuple[str, ...]
    sandbox: bool
    active: bool
    expires_at: str | None
    last_used_at: str | None
    created_at: str


class Principal(msgspec.Struct, frozen=True):
    """Who a request is: the tenant and what its key may do."""

    tenant_id: str
    key_id: str
    scopes: frozenset[str]
    sandbox: bool = False


# ---- the send request (POST /v1/messages) --------------------------------------------------


class Sender(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: str
    name: str | None = None


class AttachmentIn(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    filename: str
    content: str
    content_type: str


class SendRequest(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    to: list[str]
    from_: Sender | str = msgspec.field(name="from")
    subject: str
    html_body: str
    cc: list[str] = []
    bcc: list[str] = []
    reply_to: str | None = None
    text_body: str | None = None
    variables: dict[str, Any] = {}
    attachments: list[AttachmentIn] = []
    metadata: dict[str, Any] = {}
    priority: Priority = "normal"
    idempotency_key: str | None = None
    scheduled_at: str | None = None
    queue: str | None = None


# ---- what the store keeps -------------------------------------------------------------------


class StoredAttachment(msgspec.Struct, frozen=True):
    id: str
    position: int
    filename: str
    content_type: str
    size_bytes: int
    storage_key: str


class NewMessage(msgspec.Struct, frozen=True):
    """A validated message ready to be accepted in one transaction with its job and event."""

    id: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    from_email: str
    from_name: str | None
    reply_to: str | None
    subject: str
    html_body: str
    text_body: str | None
    variables: dict[str, Any]
    metadata: dict[str, Any]
    category: str | None
    priority: Priority
    max_attempts: int
    idempotency_key: str | None
    body_hash: str | None
    scheduled_at: str | None
    created_at: str
    attachments: tuple[StoredAttachment, ...] = ()
    sandbox: bool = False
    queue: str = "default"
    batch_id: str | None = None
    job_priority: int | None = None
    queue_id: str | None = None  # the named queue's row (issue 7); None: no queue row


class Accepted(msgspec.Struct, frozen=True):
    message_id: str
    status: str
    suppressed: tuple[str, ...]


class Replayed(msgspec.Struct, frozen=True):
    message_id: str
    status: str
    suppressed: tuple[str, ...] = ()


class Event(msgspec.Struct, frozen=True):
    type: str
    timestamp: str
    data: dict[str, Any]


class MessageRecord(msgspec.Struct, frozen=True):
    id: str
    tenant_id: str
    status: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    from_email: str
    from_name: str | None
    reply_to: str | None
    subject: str
    html_body: str
    text_body: str | None
    rendered_subject: str | None
    rendered_html: str | None
    rendered_text: str | None
    variables: dict[str, Any]
    metadata: dict[str, Any]
    priority: str
    provider: str | None
    attempts: int
    max_attempts: int
    last_error: str | None
    sandbox: bool
    queue: str
    batch_id: str | None
    scheduled_at: str | None
    sent_at: str | None
    created_at: str
    attachments: tuple[StoredAttachment, ...] = ()
    events: tuple[Event, ...] = ()


class MessageFilter(msgspec.Struct, frozen=True):
    status: str | None = None
    recipient: str | None = None
    created_from: str | None = None
    created_to: str | None = None
    category: str | None = None
    tag: str | None = None
    batch_id: str | None = None
    limit: int = 50
    after: tuple[str, str] | None = None  # (created_at, id) of the last item seen


class Job(msgspec.Struct, frozen=True):
    id: int
    kind: str
    ref_id: str
    tenant_id: str
    priority: int
    attempts: int
    max_attempts: int
    run_at: str
    payload: str | None = None
    queue_id: str | None = None


class Completion(msgspec.Struct, frozen=True):
    """What one send attempt decided, recorded by `Store.finish_sends` in one transaction."""

    job_id: int
    message_id: str
    tenant_id: str
    status: str  # sent | failed | bounced | queued (a retry is scheduled)
    attempts: int
    provider: str | None = None
    error: str | None = None
    retry_at: str | None = None
    dead: bool = False
    rendered: tuple[str, str, str] | None = None
    sent_at: str | None = None
    events: tuple[tuple[str, dict[str, Any]], ...] = ()
    hard_bounces: tuple[str, ...] = ()
    webhook_event: str | None = None
    webhook_data: dict[str, Any] = {}


class AdminUser(msgspec.Struct, frozen=True):
    id: str
    email: str
    password_hash: str
    role: str
    created_at: str


# ---- tenant services (issue 6): suppressions, sender domains ---------------------------------


class Suppression(msgspec.Struct, frozen=True):
    """One suppressed address of a tenant (stored lower-cased)."""

    email: str
    reason: str  # hard_bounce | complaint | manual
    source_message_id: str | None
    created_at: str


DomainStatus = Literal["pending", "verified"]


class SenderDomain(msgspec.Struct, frozen=True):
    domain: str
    status: DomainStatus  # only a verified domain may be used in `from` (DESIGN §4.1)
    created_at: str


# ---- workflows (issue 7): batches and named queues -------------------------------------------

MAX_BATCH_RECIPIENTS = 10_000
QUEUE_STATES: tuple[str, ...] = ("active", "paused", "draining")
DEFAULT_QUEUE = "default"
QueuePriority = Annotated[int, msgspec.Meta(ge=1, le=10)]
RatePerMinute = Annotated[int, msgspec.Meta(ge=1)]
RetrySeconds = Annotated[
    list[Annotated[int, msgspec.Meta(gt=0, le=7 * 86400)]], msgspec.Meta(max_length=20)
]


class BatchRecipient(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    """One recipient entry of a batch: its own addresses and variables (merged over shared)."""

    to: list[str]
    cc: list[str] = []
    bcc: list[str] = []
    variables: dict[str, Any] = {}


class BatchRequest(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    """POST /v1/messages/batch: the shared fields of a single send plus `recipients`."""

    from_: Sender | str = msgspec.field(name="from")
    subject: str
    html_body: str
    recipients: list[BatchRecipient]
    reply_to: str | None = None
    text_body: str | None = None
    variables: dict[str, Any] = {}
    attachments: list[AttachmentIn] = []
    metadata: dict[str, Any] = {}
    priority: Priority = "normal"
    idempotency_key: str | None = None
    scheduled_at: str | None = None
    queue: str | None = None


class NewBatch(msgspec.Struct, frozen=True):
    """A validated batch row, accepted in one transaction with all of its messages."""

    id: str
    count: int
    queue: str
    queue_id: str | None
    scheduled_at: str | None
    sandbox: bool
    idempotency_key: str | None
    body_hash: str | None
    created_at: str


class BatchAccepted(msgspec.Struct, frozen=True):
    batch_id: str
    count: int
    suppressed: tuple[str, ...]


class BatchReplayed(msgspec.Struct, frozen=True):
    batch_id: str
    count: int
    suppressed: tuple[str, ...] = ()


class BatchRecord(msgspec.Struct, frozen=True):
    id: str
    tenant_id: str
    count: int
    queue: str
    scheduled_at: str | None
    sandbox: bool
    created_at: str
    counts: dict[str, int] = {}


class QueueCreate(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    """POST /v1/queues. `ratePerMinute` null = unlimited; `retrySchedule` null = config's."""

    name: str
    priority: QueuePriority = 5
    rate_per_minute: RatePerMinute | None = None
    retry_schedule: RetrySeconds | None = None


class QueuePatch(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    """PATCH /v1/queues/{id}: any subset; null clears a rate limit or a retry override."""

    priority: QueuePriority | msgspec.UnsetType = msgspec.UNSET
    rate_per_minute: RatePerMinute | msgspec.UnsetType | None = msgspec.UNSET
    retry_schedule: RetrySeconds | msgspec.UnsetType | None = msgspec.UNSET


class Queue(msgspec.Struct, frozen=True):
    id: str
    tenant_id: str
    name: str
    priority: int
    rate_per_minute: int | None
    retry_schedule: tuple[int, ...] | None
    state: str  # active | paused | draining
    created_at: str
    updated_at: str


class QueueStats(msgspec.Struct, frozen=True):
    """Jobs of one queue by state, the oldest due one, and outcomes over the last hour."""

    depth: dict[str, int]  # ready (due), delayed (scheduled or awaiting retry), leased, paused
    oldest_due_at: str | None
    last_hour: dict[str, int]  # sent, failed, bounced
