"""What the operator dashboard reads across tenants: its rows (its message search is
domain/search.py, the same as the API's). Pure data."""

import msgspec

from iep_appliance.domain.models import Event

# Messages per page of the dashboard's lists.
PAGE_SIZE = 50


class JobRow(msgspec.Struct, frozen=True):
    """A send or webhook job waiting for its time: scheduled (no attempt yet) or retrying."""

    id: int
    kind: str
    ref_id: str
    tenant_id: str
    attempts: int
    max_attempts: int
    run_at: str
    last_error: str | None
    message_status: str | None = None
    subject: str | None = None
    to: tuple[str, ...] = ()


class NamedQueueDepth(msgspec.Struct, frozen=True):
    tenant_id: str
    name: str
    state: str  # active | paused | draining
    counts: dict[str, int]  # send jobs by state (ready, leased, paused, dead)


class AttachmentFile(msgspec.Struct, frozen=True):
    tenant_id: str
    filename: str
    content_type: str
    storage_key: str


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


class Attempt(msgspec.Struct, frozen=True):
    """One delivery attempt of a message, read from its events."""

    number: int
    started: str
    finished: str | None  # None: still in flight (or the process stopped mid-attempt)
    outcome: str | None  # sent | retry_scheduled | failed | bounced
    provider: str | None
    error: str | None


ATTEMPT_OUTCOMES = frozenset({"sent", "retry_scheduled", "failed", "bounced"})


def attempts_of(events: tuple[Event, ...]) -> list[Attempt]:
    """Each `processing` event opens an attempt; the next outcome event closes it."""
    out: list[Attempt] = []
    open_at: str | None = None
    for e in events:
        if e.type == "processing":
            if open_at is not None:
                out.append(Attempt(len(out) + 1, open_at, None, None, None, None))
            open_at = e.timestamp
        elif e.type in ATTEMPT_OUTCOMES and open_at is not None:
            data = e.data if isinstance(e.data, dict) else {}
            provider, error = data.get("provider"), data.get("error") or data.get("note")
            out.append(
                Attempt(
                    number=len(out) + 1,
                    started=open_at,
                    finished=e.timestamp,
                    outcome=e.type,
                    provider=provider if isinstance(provider, str) else None,
                    error=error if isinstance(error, str) else None,
                )
            )
            open_at = None
    if open_at is not None:
        out.append(Attempt(len(out) + 1, open_at, None, None, None, None))
    return out


class JobState(msgspec.Struct, frozen=True):
    """Which job an id is and its state now (what a DLQ action checks first)."""

    id: int
    kind: str  # send | webhook
    ref_id: str
    tenant_id: str
    state: str


class OutboxMime(msgspec.Struct, frozen=True):
    """The final MIME the outbox provider kept for a message of any tenant."""

    tenant_id: str
    mime: bytes


class AdminSession(msgspec.Struct, frozen=True):
    """A live operator session (kept by the hash of its id)."""

    email: str
    role: str
    expires_at: str
