"""What the operator dashboard reads across tenants: filters and rows. Pure data."""

import msgspec

# Messages per page of the dashboard's lists.
PAGE_SIZE = 50


class DashboardFilter(msgspec.Struct, frozen=True):
    """Messages of every tenant (or one), newest first; `before_id` is the last id seen
    (ids are UUIDv7, so id order is creation order)."""

    tenant_id: str | None = None
    status: str | None = None
    recipient: str | None = None  # substring of any to/cc/bcc address, case-insensitive
    before_id: str | None = None
    limit: int = PAGE_SIZE


class OutboxItem(msgspec.Struct, frozen=True):
    message_id: str
    tenant_id: str
    created_at: str
    size_bytes: int
    subject: str | None
    to: tuple[str, ...]


class DeadJob(msgspec.Struct, frozen=True):
    """A job in the DLQ (state `dead`) and, for a send job, its message."""

    id: int
    kind: str  # send | webhook
    ref_id: str
    tenant_id: str
    attempts: int
    last_error: str | None
    updated_at: str
    message_status: str | None = None
    subject: str | None = None
    to: tuple[str, ...] = ()
