"""The nouns of IEP as msgspec Structs: tenants, keys, messages, jobs, events.

Pure data. Request bodies use camelCase on the wire (`rename="camel"`); records that
the store returns use snake_case attributes.
"""

from typing import Annotated, Any, Literal, get_args

import msgspec

from iep_appliance.domain.templates import (
    ContentDefaults,
    StrictVariablesField,
    TemplateField,
    Tracking,
)

Priority = Literal["high", "normal", "low"]
PRIORITY_RANK: dict[str, int] = {"high": 0, "normal": 1, "low": 2}
MessageStatus = Literal[
    "scheduled", "queued", "processing", "sent", "delivered", "failed", "bounced", "cancelled"
]
MESSAGE_STATUSES: tuple[str, ...] = get_args(MessageStatus)


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
    max_per_minute: Annotated[
        int | None,
        msgspec.Meta(
            description="Most messages accepted per minute; null = the appliance default."
        ),
    ] = None
    max_per_hour: Annotated[
        int | None,
        msgspec.Meta(description="Most messages accepted per hour; null = the appliance default."),
    ] = None
    max_per_day: Annotated[
        int | None,
        msgspec.Meta(description="Most messages accepted per day; null = the appliance default."),
    ] = None


class AttachmentLimits(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    max_file_bytes: Annotated[
        int, msgspec.Meta(description="Largest attachment file in bytes (decoded).")
    ] = 10 * 1024 * 1024
    max_total_bytes: Annotated[
        int,
        msgspec.Meta(description="Largest total of a message's attachments in bytes (decoded)."),
    ] = 25 * 1024 * 1024
    max_count: Annotated[int, msgspec.Meta(description="Most attachments on one message.")] = 10
    allowed_types: Annotated[
        tuple[str, ...], msgspec.Meta(description="MIME types an attachment may have.")
    ] = DEFAULT_ALLOWED_TYPES


class Routing(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    primary_provider: Annotated[
        str | None,
        msgspec.Meta(description="Provider for this tenant's messages; null = the default."),
    ] = None
    fallback_provider: Annotated[
        str | None,
        msgspec.Meta(description="Provider used when the primary is down; null = the default."),
    ] = None


class TenantSettings(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    sandbox: bool = False
    rate_limits: RateLimits = RateLimits()
    attachments: AttachmentLimits = AttachmentLimits()
    routing: Routing = Routing()
    # One-click unsubscribe headers on every send that does not say (DESIGN §10.3).
    unsubscribe: bool = False
    content: ContentDefaults = ContentDefaults()  # tracking and strictVariables defaults


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
    ip_allowlist: tuple[str, ...] = ()  # CIDRs a request must come from; () = anywhere


class Principal(msgspec.Struct, frozen=True):
    """Who a request is: the tenant and what its key may do."""

    tenant_id: str
    key_id: str
    scopes: frozenset[str]
    sandbox: bool = False
    ip_allowlist: tuple[str, ...] = ()  # the key's CIDRs; () = anywhere


# ---- the send request (POST /v1/messages) --------------------------------------------------


class Sender(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(description="The address.")]
    name: Annotated[
        str | None, msgspec.Meta(description="Display name; RFC 2047-encoded on the wire.")
    ] = None


# Any address of a send (DESIGN §10.1): "a@x.com", "Name <a@x.com>" or {"email", "name"}.
Address = str | Sender


class AttachmentIn(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    filename: Annotated[str, msgspec.Meta(description="File name shown to the recipient.")]
    content: Annotated[str, msgspec.Meta(description="The file's bytes, base64-encoded.")]
    content_type: Annotated[
        str,
        msgspec.Meta(
            description="MIME type (must be allowed by the tenant's attachment settings)."
        ),
    ]


# The fields a single send and a batch share, as the API describes them.
FromAddress = Annotated[
    Sender | str,
    msgspec.Meta(
        description="Sender: an address string or `{email, name}`; its domain must be allowed."
    ),
]
SubjectTemplate = Annotated[str, msgspec.Meta(description="Subject template (Handlebars).")]
HtmlBodyTemplate = Annotated[
    str,
    msgspec.Meta(
        description="HTML body template (Handlebars); may be omitted with a `textBody`"
        " (a text/plain message, no HTML part)."
    ),
]
ReplyTo = Annotated[Address | None, msgspec.Meta(description="Reply-To address.")]
TextBodyTemplate = Annotated[
    str | None,
    msgspec.Meta(description="Plain-text body template; derived from the HTML when absent."),
]
DeliveryPriority = Annotated[
    Priority, msgspec.Meta(description="Delivery priority: `high`, `normal` or `low`.")
]
ScheduledAt = Annotated[
    str | None,
    msgspec.Meta(description="Send no earlier than this time (ISO 8601); now when absent."),
]
OneClickUnsubscribe = Annotated[
    bool | None,
    msgspec.Meta(
        description="Add one-click unsubscribe headers (List-Unsubscribe, RFC 8058);"
        " the tenant's `unsubscribe` setting when absent."
    ),
]


class SendRequest(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    to: Annotated[
        list[Address],
        msgspec.Meta(description="Recipients: `a@x.com`, `Name <a@x.com>` or `{email, name}`."),
    ]
    from_: FromAddress = msgspec.field(name="from")
    subject: SubjectTemplate = ""  # may be absent when the send names a stored `template`
    html_body: HtmlBodyTemplate = ""
    cc: Annotated[list[Address], msgspec.Meta(description="Cc recipients.")] = []
    bcc: Annotated[
        list[Address], msgspec.Meta(description="Bcc recipients (not shown in the headers).")
    ] = []
    reply_to: ReplyTo = None
    text_body: TextBodyTemplate = None
    variables: Annotated[dict[str, Any], msgspec.Meta(description="Template variables.")] = {}
    attachments: Annotated[list[AttachmentIn], msgspec.Meta(description="Files to attach.")] = []
    metadata: Annotated[
        dict[str, Any],
        msgspec.Meta(description="Free-form JSON kept with the message and sent in its webhooks."),
    ] = {}
    priority: DeliveryPriority = "normal"
    idempotency_key: Annotated[
        str | None,
        msgspec.Meta(description="A retried request with the same key returns the first message."),
    ] = None
    scheduled_at: ScheduledAt = None
    queue: Annotated[
        str | None,
        msgspec.Meta(description="Named queue the message goes through; `default` when absent."),
    ] = None
    unsubscribe: OneClickUnsubscribe = None
    template: TemplateField = None  # a stored template (DESIGN §10.5)
    strict_variables: StrictVariablesField = None
    tracking: Tracking = None


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
    queue_id: str | None = None  # the named queue's row; None: no queue row
    # display names of recipients and Reply-To: {lower-cased address: name}
    display_names: dict[str, str] = {}
    # How it arrived: api | smtp | resend | postmark; for SMTP the client's
    # address and AUTH user.
    origin: str = "api"
    origin_client: str | None = None
    origin_user: str | None = None
    # A raw_mime message is sent as `raw_mime`, never rendered (SMTP submission).
    raw_mime: bytes | None = None
    # One-click unsubscribe headers (DESIGN §10.3): the send's `unsubscribe`, else the tenant's.
    unsubscribe: bool = False
    template_id: str | None = None  # its stored template (sources copied above)
    template_version: int | None = None
    tracking: int = 0  # 1 opens, 2 clicks (domain/tracking.py)


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
    display_names: dict[str, str] = {}  # {lower-cased address: name} of recipients, Reply-To
    origin: str = "api"  # how it arrived: api | smtp | resend | postmark
    origin_client: str | None = None
    origin_user: str | None = None
    kind: str = "structured"  # structured | raw_mime
    unsubscribe: bool = False  # add List-Unsubscribe headers (DESIGN §10.3)
    raw_mime: bytes | None = None  # a raw_mime message's MIME; loaded for sending only
    template_id: str | None = None  # the stored template it was made from
    template_version: int | None = None
    tracking: int = 0  # 1 opens, 2 clicks (domain/tracking.py)


ORIGINS: tuple[str, ...] = ("api", "smtp", "resend", "postmark")


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
    traceparent: str | None = None  # the accepting request's trace context


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
    # status "queued" without an attempt: no route was open (breakers), nothing was sent, and
    # the attempt the claim counted is given back.
    deferred: bool = False
    hard_bounces: tuple[str, ...] = ()
    webhook_event: str | None = None
    webhook_data: dict[str, Any] = {}


class AdminUser(msgspec.Struct, frozen=True):
    id: str
    email: str
    password_hash: str
    role: str
    created_at: str


# ---- tenant services: suppressions, sender domains -------------------------------------------


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


# ---- workflows: batches and named queues ----------------------------------------------------

MAX_BATCH_RECIPIENTS = 10_000
QUEUE_STATES: tuple[str, ...] = ("active", "paused", "draining")
DEFAULT_QUEUE = "default"
QueuePriority = Annotated[int, msgspec.Meta(ge=1, le=10)]
RatePerMinute = Annotated[int, msgspec.Meta(ge=1)]
RetrySeconds = Annotated[
    list[Annotated[int, msgspec.Meta(gt=0, le=7 * 86400)]], msgspec.Meta(max_length=20)
]
# What a queue's settings mean, the same in a create and a patch.
_PRIORITY_DOC = msgspec.Meta(description="Share of the senders: higher goes first (1 to 10).")
_RATE_DOC = msgspec.Meta(description="Most messages sent per minute; null = unlimited.")
_RETRY_DOC = msgspec.Meta(description="Seconds between attempts; null = the appliance's schedule.")


class BatchRecipient(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    """One recipient entry of a batch: its own addresses and variables (merged over shared)."""

    to: Annotated[
        list[Address],
        msgspec.Meta(description="This entry's recipients (`a@x.com` or `Name <a@x.com>`)."),
    ]
    cc: Annotated[list[Address], msgspec.Meta(description="This entry's Cc recipients.")] = []
    bcc: Annotated[
        list[Address],
        msgspec.Meta(description="This entry's Bcc recipients (not shown in the headers)."),
    ] = []
    variables: Annotated[
        dict[str, Any],
        msgspec.Meta(description="Template variables for this entry, merged over the shared ones."),
    ] = {}


class BatchRequest(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    """POST /v1/messages/batch: the shared fields of a single send plus `recipients`."""

    from_: FromAddress = msgspec.field(name="from")
    subject: SubjectTemplate
    recipients: Annotated[
        list[BatchRecipient],
        msgspec.Meta(description="One entry per message: its addresses and variables."),
    ]
    html_body: HtmlBodyTemplate = ""
    reply_to: ReplyTo = None
    text_body: TextBodyTemplate = None
    variables: Annotated[
        dict[str, Any],
        msgspec.Meta(description="Template variables shared by every recipient entry."),
    ] = {}
    attachments: Annotated[
        list[AttachmentIn],
        msgspec.Meta(description="Files attached to every message of the batch."),
    ] = []
    metadata: Annotated[
        dict[str, Any],
        msgspec.Meta(description="Free-form JSON kept with each message and sent in its webhooks."),
    ] = {}
    priority: DeliveryPriority = "normal"
    idempotency_key: Annotated[
        str | None,
        msgspec.Meta(description="A retried request with the same key returns the first batch."),
    ] = None
    scheduled_at: ScheduledAt = None
    queue: Annotated[
        str | None,
        msgspec.Meta(description="Named queue the messages go through; `default` when absent."),
    ] = None
    unsubscribe: OneClickUnsubscribe = None


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

    name: Annotated[str, msgspec.Meta(description="Queue name, unique per tenant.")]
    priority: Annotated[QueuePriority, _PRIORITY_DOC] = 5
    rate_per_minute: Annotated[RatePerMinute | None, _RATE_DOC] = None
    retry_schedule: Annotated[RetrySeconds | None, _RETRY_DOC] = None


class QueuePatch(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    """PATCH /v1/queues/{id}: any subset; null clears a rate limit or a retry override."""

    priority: Annotated[QueuePriority | msgspec.UnsetType, _PRIORITY_DOC] = msgspec.UNSET
    rate_per_minute: Annotated[RatePerMinute | msgspec.UnsetType | None, _RATE_DOC] = msgspec.UNSET
    retry_schedule: Annotated[RetrySeconds | msgspec.UnsetType | None, _RETRY_DOC] = msgspec.UNSET


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
