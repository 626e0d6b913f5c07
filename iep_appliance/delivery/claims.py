"""What the scheduler hands a sender: a claimed job with its message and suppressions loaded.

Loading is one read per batch; when it fails, job by job, so a job whose message cannot be
loaded (a corrupt row, a value the decoder refuses) fails alone, as a crashed attempt that
counts (§10.1), instead of taking its batch down or being claimed again for ever.
"""

import logging

import msgspec

from iep_appliance.domain.models import Job, MessageRecord
from iep_appliance.store.base import Store

log = logging.getLogger("iep.delivery")


class Claimed(msgspec.Struct, frozen=True):
    """A claimed job with what the scheduler loaded for it; `error`: the loading failed."""

    job: Job
    message: MessageRecord | None = None
    suppressed: frozenset[str] | None = None
    error: str | None = None


async def load_claimed(store: Store, jobs: list[Job]) -> list[Claimed]:
    """Load the messages and suppressions of claimed send jobs in one read each; when that
    fails, job by job, so one job that cannot load fails alone (as a crashed attempt)."""
    sends = [j for j in jobs if j.kind == "send"]
    if not sends:
        return [Claimed(job) for job in jobs]
    try:
        return await _load(store, jobs, sends)
    except Exception:
        log.exception("scheduler.load_failed", extra={"fields": {"jobs": len(sends)}})
    out = []
    for job in jobs:
        try:
            out.extend(await _load(store, [job], [job] if job.kind == "send" else []))
        except Exception as exc:
            out.append(Claimed(job, error=crash_text(exc)))
    return out


async def _load(store: Store, jobs: list[Job], sends: list[Job]) -> list[Claimed]:
    messages: dict[str, MessageRecord] = {}
    suppressed: dict[str, frozenset[str]] = {}
    if sends:
        messages = await store.load_for_send([j.ref_id for j in sends])
        by_tenant: dict[str, list[str]] = {}
        for m in messages.values():
            by_tenant.setdefault(m.tenant_id, []).extend((*m.to, *m.cc, *m.bcc))
        for tenant_id, emails in by_tenant.items():
            found = await store.suppressed_among(tenant_id, emails)
            suppressed[tenant_id] = frozenset(e.lower() for e in found)
    out: list[Claimed] = []
    for job in jobs:
        message = messages.get(job.ref_id) if job.kind == "send" else None
        blocked = suppressed.get(message.tenant_id, frozenset()) if message else None
        out.append(Claimed(job, message, blocked))
    return out


class LoadFailed(Exception):
    """Loading a claimed job's message failed; args[0] is the error text."""


def crash_text(exc: BaseException) -> str:
    """`lastError` of a crashed attempt: "crashed: KeyError: 'x'" (bounded in length)."""
    text = str(exc)
    return f"crashed: {type(exc).__name__}" + (f": {text}"[:300] if text else "")
