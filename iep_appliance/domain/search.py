"""Message search: one meaning for the tenant API (`GET /v1/messages`) and the dashboard.

A message matches when it meets every filter given (None: no filter):
- `tenant_id`: the tenant's messages (a tenant's verb always sets its own; the dashboard may
  leave it out to search every tenant);
- `status`, `category`, `queue`, `batch_id`, `message_id`: equal;
- `recipient`: an address of its to, cc or bcc, whole and compared case-insensitively
  (`A@Example.org` finds `a@example.org`; `a@` finds nothing);
- `subject`: a case-insensitive substring of its rendered subject (or its template);
- `tag`: one of its `metadata.tags`;
- `created_from` (inclusive) and `created_to` (exclusive): ISO times of its creation.
Results come newest first by (created_at, id); `after` is the (created_at, id) of the last
message seen (the decoded cursor, domain/cursors.py), `limit` the page size.

The dashboard's list reads at most `scan_limit` rows per page for the filters no index serves
(`has_residual`); a page that ends at that window's edge resumes after it (a MessageSlice).
"""

import msgspec

from iep_appliance.domain.models import MessageRecord

# Rows a filtered dashboard list reads past (newest first) before it stops and offers to
# search further: a filter that matches little never scans the whole table for one page.
SCAN_LIMIT = 25_000


class MessageSearch(msgspec.Struct, frozen=True):
    tenant_id: str | None = None
    status: str | None = None
    recipient: str | None = None
    subject: str | None = None
    created_from: str | None = None
    created_to: str | None = None
    category: str | None = None
    tag: str | None = None
    queue: str | None = None
    batch_id: str | None = None
    message_id: str | None = None
    after: tuple[str, str] | None = None
    limit: int = 50
    scan_limit: int = SCAN_LIMIT

    @property
    def has_residual(self) -> bool:
        """Filters no index serves (the dashboard reads them row by row in its window)."""
        return any((self.recipient, self.subject, self.category, self.tag, self.queue))


class MessageSlice(msgspec.Struct, frozen=True):
    """One page of the dashboard's message list; `resume` is where the next page starts
    (None: the end), reached either after `limit` matches or after scanning `scan_limit`
    rows."""

    items: list[MessageRecord]
    resume: tuple[str, str] | None
