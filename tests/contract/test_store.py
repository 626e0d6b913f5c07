"""The Store conformance suite: what the contracts rely on, for every backend (STYLE §1.2).

Each test runs over the `store` fixture of conftest.py, parametrized by backend ("sqlite" now;
a PostgreSQL backend joins its BACKENDS and must pass unchanged). `open_store()` opens another
handle on the same storage: a second node. Time is a FakeClock; verbs that take `now` get it
explicitly.
The last section pins the SQLite writer itself (group commit, a failing write rolls back alone).
"""

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from iep_appliance.clock import FakeClock
from iep_appliance.domain import ids
from iep_appliance.domain.errors import Conflict
from iep_appliance.domain.models import (
    Accepted,
    ApiKey,
    Completion,
    Job,
    NewMessage,
    Replayed,
    StoredAttachment,
    Tenant,
)
from iep_appliance.domain.search import MessageSearch
from iep_appliance.store.base import Store
from iep_appliance.store.sqlite.migrate import migrate
from iep_appliance.store.sqlite.store import SqliteStore
from tests.contract.conftest import OpenStore
from tests.support.waiting import wait_until

LEASE = timedelta(seconds=60)

# Which event types explain a message reaching each status.
EXPLAINS: dict[str, set[str]] = {
    "scheduled": {"scheduled"},
    "queued": {"queued", "retry_scheduled"},
    "processing": {"processing"},
    "sent": {"sent"},
    "failed": {"failed", "dlq"},
    "bounced": {"bounced"},
    "cancelled": {"cancelled"},
}


def new_message(clock: FakeClock, **overrides: Any) -> NewMessage:
    fields: dict[str, Any] = {
        "id": clock.new_id(),
        "to": ("ada@example.com",),
        "cc": (),
        "bcc": (),
        "from_email": "noreply@acme.test",
        "from_name": "Acme",
        "reply_to": None,
        "subject": "Hi {{name}}",
        "html_body": "<p>Hi {{name}}</p>",
        "text_body": None,
        "variables": {"name": "Ada"},
        "metadata": {},
        "category": None,
        "priority": "normal",
        "max_attempts": 5,
        "idempotency_key": None,
        "body_hash": None,
        "scheduled_at": None,
        "created_at": ids.iso(clock.now()),
    }
    fields.update(overrides)
    return NewMessage(**fields)


async def accept(store: Store, tenant: Tenant, clock: FakeClock, **overrides: Any) -> str:
    result = await store.accept_message(tenant.id, new_message(clock, **overrides))
    assert isinstance(result, Accepted)
    return result.message_id


async def claim_all(store: Store, clock: FakeClock, limit: int = 100) -> list[Job]:
    return await store.claim_due(clock.now(), limit, LEASE)


def completion(job: Job, status: str, **overrides: Any) -> Completion:
    events = {
        "sent": (("sent", {"provider": "outbox"}),),
        "failed": (("failed", {"error": "550 no"}),),
        "bounced": (("bounced", {"recipient": "ada@example.com"}),),
        "queued": (("retry_scheduled", {"error": "451 later"}),),
    }[status]
    fields: dict[str, Any] = {
        "job_id": job.id,
        "message_id": job.ref_id,
        "tenant_id": job.tenant_id,
        "status": status,
        "attempts": job.attempts,
        "provider": "outbox",
        "events": events,
    }
    fields.update(overrides)
    return Completion(**fields)


class StatusWatch:
    """Snapshots message statuses and events; `check()` asserts that every status change since
    the last snapshot came with at least one new event that explains it."""

    def __init__(self, store: Store, tenant: Tenant) -> None:
        self.store = store
        self.tenant = tenant
        self.seen: dict[str, tuple[str, int]] = {}

    async def check(self) -> None:
        items = await self.store.list_messages(self.tenant.id, MessageSearch(limit=200))
        for item in items:
            record = await self.store.get_message(self.tenant.id, item.id)
            assert record is not None
            status, n_events = record.status, len(record.events)
            before = self.seen.get(record.id)
            if before is None or before[0] != status:
                new = record.events[before[1] if before else 0 :]
                types = {e.type for e in new}
                assert types & EXPLAINS[status], (
                    f"{record.id}: {before and before[0]} → {status} without an event "
                    f"(new events: {sorted(types)})"
                )
            self.seen[record.id] = (status, n_events)


# ---- lifecycle -------------------------------------------------------------------------------


async def test_a_new_store_is_fresh_until_a_tenant_exists(store: Store) -> None:
    assert await store.is_fresh()

    await store.create_tenant("acme", "Acme", [])

    assert not await store.is_fresh()


async def test_ping_is_a_write_that_succeeds_on_an_open_store(store: Store) -> None:
    await store.ping()


async def test_data_survives_close_and_reopen(
    store: Store, open_store: OpenStore, tenant: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, tenant, clock)
    await store.close()

    again = await open_store()

    assert (await again.get_message(tenant.id, message_id)) is not None


# ---- tenants ---------------------------------------------------------------------------------


async def test_duplicate_tenant_slug_is_a_conflict(store: Store, tenant: Tenant) -> None:
    with pytest.raises(Conflict):
        await store.create_tenant("acme", "Again", [])


async def test_tenant_is_found_by_id_and_slug_with_its_domains(
    store: Store, tenant: Tenant
) -> None:
    assert await store.get_tenant(tenant.id) == tenant
    assert await store.get_tenant_by_slug("acme") == tenant
    assert await store.allowed_domains(tenant.id) == frozenset({"acme.test"})
    assert await store.get_tenant_by_slug("nope") is None


# ---- accepting messages ----------------------------------------------------------------------


async def test_accept_stores_message_job_and_queued_event_together(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, tenant, clock, priority="high")

    record = await store.get_message(tenant.id, message_id)
    assert record is not None
    assert (record.status, record.priority, record.attempts) == ("queued", "high", 0)
    assert [e.type for e in record.events] == ["queued"]
    assert await store.queue_depth() == {"ready": 1}
    (job,) = await claim_all(store, clock)
    assert (job.kind, job.ref_id, job.tenant_id, job.priority) == ("send", message_id, tenant.id, 0)


async def test_accept_reports_suppressed_recipients(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    # The third hard bounce suppresses an address (via finish_sends, the store's own path).
    for _ in range(3):
        await accept(store, tenant, clock, to=("gone@example.com",))
        (job,) = await claim_all(store, clock)
        await store.finish_sends([completion(job, "bounced", hard_bounces=("gone@example.com",))])

    result = await store.accept_message(
        tenant.id, new_message(clock, to=("GONE@example.com", "ok@example.com"))
    )

    assert isinstance(result, Accepted)
    assert result.suppressed == ("GONE@example.com",)
    assert await store.suppressed_among(tenant.id, ["gone@example.com", "x@y.z"]) == [
        "gone@example.com"
    ]


async def test_idempotent_replay_returns_the_original_message(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    first = await accept(store, tenant, clock, idempotency_key="k1", body_hash="h1")

    again = await store.accept_message(
        tenant.id, new_message(clock, idempotency_key="k1", body_hash="h1")
    )

    assert again == Replayed(message_id=first, status="queued")
    assert len(await store.list_messages(tenant.id, MessageSearch())) == 1


async def test_idempotency_key_with_another_body_is_a_conflict_naming_the_original(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    first = await accept(store, tenant, clock, idempotency_key="k1", body_hash="h1")

    with pytest.raises(Conflict) as caught:
        await store.accept_message(
            tenant.id, new_message(clock, idempotency_key="k1", body_hash="h2")
        )

    assert caught.value.extra == {"messageId": first}
    assert len(await store.list_messages(tenant.id, MessageSearch())) == 1


async def test_idempotency_keys_are_per_tenant(
    store: Store, tenant: Tenant, other: Tenant, clock: FakeClock
) -> None:
    await accept(store, tenant, clock, idempotency_key="k1", body_hash="h1")

    result = await store.accept_message(
        other.id, new_message(clock, idempotency_key="k1", body_hash="h2")
    )

    assert isinstance(result, Accepted)


async def test_concurrent_duplicates_create_exactly_one_message(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    results = await asyncio.gather(
        *(
            store.accept_message(
                tenant.id, new_message(clock, idempotency_key="same", body_hash="h")
            )
            for _ in range(30)
        )
    )

    accepted = [r for r in results if isinstance(r, Accepted)]
    assert len(accepted) == 1
    assert {r.message_id for r in results} == {accepted[0].message_id}
    assert len(await store.list_messages(tenant.id, MessageSearch())) == 1
    assert await store.queue_depth() == {"ready": 1}


async def test_concurrent_duplicates_across_two_nodes_create_one_message(
    store: Store, open_store: OpenStore, tenant: Tenant, clock: FakeClock
) -> None:
    node2 = await open_store()

    results = await asyncio.gather(
        *(
            s.accept_message(tenant.id, new_message(clock, idempotency_key="x", body_hash="h"))
            for s in [store, node2] * 10
        )
    )

    assert sum(isinstance(r, Accepted) for r in results) == 1
    assert len({r.message_id for r in results}) == 1


async def test_a_failing_accept_writes_nothing(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    # Two attachments with one id: the second insert fails after message, job and event.
    dup = StoredAttachment("att-1", 0, "a.txt", "text/plain", 1, "k/a")
    bad = new_message(clock, attachments=(dup, dup))
    good_id = await accept(store, tenant, clock)

    with pytest.raises(Exception):  # noqa: B017 - the backend's integrity error
        await store.accept_message(tenant.id, bad)

    assert await store.get_message(tenant.id, bad.id) is None
    assert [m.id for m in await store.list_messages(tenant.id, MessageSearch())] == [good_id]
    assert await store.queue_depth() == {"ready": 1}


async def test_attachments_are_stored_in_order_with_the_message(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    atts = tuple(
        StoredAttachment(clock.new_id(), i, f"f{i}.pdf", "application/pdf", 10 + i, f"k/{i}")
        for i in range(3)
    )
    message_id = await accept(store, tenant, clock, attachments=atts)

    loaded = await store.load_for_send([message_id])

    assert loaded[message_id].attachments == atts


# ---- tenant isolation ------------------------------------------------------------------------


async def test_another_tenants_message_reads_as_missing(
    store: Store, tenant: Tenant, other: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, tenant, clock)

    assert await store.get_message(other.id, message_id) is None
    assert await store.list_messages(other.id, MessageSearch()) == []
    assert await store.retry_message(other.id, message_id) is None
    assert await store.get_outbox(other.id, message_id) is None


async def test_another_tenants_key_reads_as_missing(
    store: Store, tenant: Tenant, other: Tenant, clock: FakeClock
) -> None:
    key = ApiKey(
        id=clock.new_id(),
        tenant_id=tenant.id,
        name="k",
        prefix="abcd1234",
        key_hash="hash",
        scopes=("send",),
        sandbox=False,
        active=True,
        expires_at=None,
        last_used_at=None,
        created_at=ids.iso(clock.now()),
    )
    await store.create_key(key)

    assert await store.get_key(other.id, key.id) is None
    assert await store.list_keys(other.id) == []
    assert await store.revoke_key(other.id, key.id) is False
    assert (await store.key_by_prefix("abcd1234")) == key
    assert await store.revoke_key(tenant.id, key.id) is True
    assert (await store.get_key(tenant.id, key.id)).active is False  # type: ignore[union-attr]


# ---- claiming --------------------------------------------------------------------------------


async def test_concurrent_claims_never_return_the_same_job(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    for _ in range(120):
        await accept(store, tenant, clock)
    claimed: list[int] = []

    async def claimer() -> None:
        while jobs := await store.claim_due(clock.now(), 7, LEASE):
            claimed.extend(j.id for j in jobs)

    await asyncio.gather(*(claimer() for _ in range(8)))

    assert len(claimed) == 120
    assert len(set(claimed)) == 120


async def test_two_nodes_claiming_never_share_a_job(
    store: Store, open_store: OpenStore, tenant: Tenant, clock: FakeClock
) -> None:
    node2 = await open_store()
    for _ in range(80):
        await accept(store, tenant, clock)
    claimed: list[int] = []

    async def claimer(s: Store) -> None:
        while jobs := await s.claim_due(clock.now(), 5, LEASE):
            claimed.extend(j.id for j in jobs)

    await asyncio.gather(*(claimer(s) for s in [store, node2] * 3))

    assert sorted(claimed) == sorted(set(claimed))
    assert len(claimed) == 80


async def test_claim_takes_high_then_normal_then_low_and_oldest_first(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    order = []
    for priority in ["low", "normal", "high", "low", "normal", "high"]:
        order.append((priority, await accept(store, tenant, clock, priority=priority)))
        clock.advance(1)
    rank = {"high": 0, "normal": 1, "low": 2}
    expected = [m for _p, m in sorted(order, key=lambda pm: rank[pm[0]])]  # stable: by age

    got = []
    while jobs := await store.claim_due(clock.now(), 1, LEASE):
        got.append(jobs[0].ref_id)

    assert got == expected


async def test_one_claim_returns_jobs_in_priority_order(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    low = await accept(store, tenant, clock, priority="low")
    clock.advance(1)
    high = await accept(store, tenant, clock, priority="high")

    jobs = await claim_all(store, clock)

    assert [j.ref_id for j in jobs] == [high, low]


async def test_claim_respects_the_limit(store: Store, tenant: Tenant, clock: FakeClock) -> None:
    for _ in range(5):
        await accept(store, tenant, clock)

    assert len(await store.claim_due(clock.now(), 3, LEASE)) == 3
    assert len(await store.claim_due(clock.now(), 3, LEASE)) == 2


async def test_a_claim_moves_the_message_to_processing_and_counts_the_attempt(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, tenant, clock)

    (job,) = await claim_all(store, clock)

    record = await store.get_message(tenant.id, message_id)
    assert record is not None
    assert (job.attempts, record.status, record.attempts) == (1, "processing", 1)
    assert [e.type for e in record.events] == ["queued", "processing"]
    assert await store.queue_depth() == {"leased": 1}


async def test_scheduled_message_is_not_claimed_before_its_time(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    run_at = clock.now() + timedelta(hours=1)
    message_id = await accept(store, tenant, clock, scheduled_at=ids.iso(run_at))

    assert await claim_all(store, clock) == []
    assert await store.next_run_at() == run_at
    clock.advance(3599)
    assert await claim_all(store, clock) == []
    clock.advance(1)
    (job,) = await claim_all(store, clock)

    assert job.ref_id == message_id
    record = await store.get_message(tenant.id, message_id)
    assert record is not None
    assert [e.type for e in record.events] == ["scheduled", "queued", "processing"]


async def test_a_leased_job_is_not_claimed_again_while_its_lease_runs(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    await accept(store, tenant, clock)
    await claim_all(store, clock)
    clock.advance(59)

    assert await store.release_expired_leases(clock.now()) == 0
    assert await claim_all(store, clock) == []


async def test_an_expired_lease_is_claimable_again(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, tenant, clock)
    (first,) = await claim_all(store, clock)
    clock.advance(61)

    assert await store.release_expired_leases(clock.now()) == 1
    (again,) = await claim_all(store, clock)

    assert (again.id, again.attempts) == (first.id, 2)
    record = await store.get_message(tenant.id, message_id)
    assert record is not None
    assert record.status == "processing"


async def test_release_all_leases_makes_every_claim_claimable(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    for _ in range(4):
        await accept(store, tenant, clock)
    claimed = await claim_all(store, clock)

    assert await store.release_all_leases() == 4
    again = await claim_all(store, clock)

    assert sorted(j.id for j in again) == sorted(j.id for j in claimed)


async def test_release_hands_back_unstarted_claims_without_counting_an_attempt(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, tenant, clock)
    (job,) = await claim_all(store, clock)

    await store.release([job])

    record = await store.get_message(tenant.id, message_id)
    assert record is not None
    assert (record.status, record.attempts) == ("queued", 0)
    (again,) = await claim_all(store, clock)
    assert again.attempts == 1


# ---- finishing sends -------------------------------------------------------------------------


async def test_finish_sent_records_job_message_and_event(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, tenant, clock)
    (job,) = await claim_all(store, clock)
    sent_at = ids.iso(clock.now())

    await store.finish_sends(
        [
            completion(
                job,
                "sent",
                sent_at=sent_at,
                rendered=("Hi Ada", "<p>Hi Ada</p>", "Hi Ada"),
            )
        ]
    )

    record = await store.get_message(tenant.id, message_id)
    assert record is not None
    assert (record.status, record.provider, record.sent_at, record.attempts) == (
        "sent",
        "outbox",
        sent_at,
        1,
    )
    assert record.rendered_subject == "Hi Ada"
    assert [e.type for e in record.events] == ["queued", "processing", "sent"]
    assert await store.queue_depth() == {"done": 1}
    assert await claim_all(store, clock) == []


async def test_finish_retry_requeues_the_job_at_its_retry_time(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, tenant, clock)
    (job,) = await claim_all(store, clock)
    retry_at = clock.now() + timedelta(seconds=60)

    await store.finish_sends(
        [completion(job, "queued", retry_at=ids.iso(retry_at), error="451 later")]
    )

    record = await store.get_message(tenant.id, message_id)
    assert record is not None
    assert (record.status, record.last_error) == ("queued", "451 later")
    assert await store.next_run_at() == retry_at
    assert await claim_all(store, clock) == []
    clock.advance(60)
    (again,) = await claim_all(store, clock)
    assert (again.id, again.attempts) == (job.id, 2)


async def test_finish_dead_puts_the_job_in_the_dlq_and_fails_the_message(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, tenant, clock)
    (job,) = await claim_all(store, clock)

    await store.finish_sends(
        [
            completion(
                job,
                "failed",
                dead=True,
                error="550 no",
                events=(("failed", {}), ("dlq", {})),
            )
        ]
    )

    record = await store.get_message(tenant.id, message_id)
    assert record is not None
    assert (record.status, record.last_error) == ("failed", "550 no")
    assert [e.type for e in record.events][-2:] == ["failed", "dlq"]
    assert await store.queue_depth() == {"dead": 1}


async def test_fail_job_with_a_retry_time_requeues_the_job_and_its_message(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, tenant, clock)
    (job,) = await claim_all(store, clock)

    await store.fail_job(job, "crashed: KeyError", clock.now() + timedelta(seconds=30))

    record = await store.get_message(tenant.id, message_id)
    assert record is not None
    assert (record.status, record.last_error, record.attempts) == ("queued", "crashed: KeyError", 1)
    assert record.events[-1].type == "retry_scheduled"
    assert await claim_all(store, clock) == []
    clock.advance(31)
    (again,) = await claim_all(store, clock)
    assert (again.id, again.attempts) == (job.id, 2)


async def test_fail_job_without_a_retry_time_dead_letters_job_and_message(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, tenant, clock)
    (job,) = await claim_all(store, clock)

    await store.fail_job(job, "crashed: RecursionError", None)

    record = await store.get_message(tenant.id, message_id)
    assert record is not None
    assert (record.status, record.last_error) == ("failed", "crashed: RecursionError")
    assert [e.type for e in record.events][-2:] == ["failed", "dlq"]
    assert await store.queue_depth() == {"dead": 1}
    clock.advance(3600)
    assert await claim_all(store, clock) == []


async def test_many_completions_are_recorded_together(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    for _ in range(10):
        await accept(store, tenant, clock)
    jobs = await claim_all(store, clock)

    await store.finish_sends([completion(j, "sent") for j in jobs])

    items = await store.list_messages(tenant.id, MessageSearch())
    assert {m.status for m in items} == {"sent"}
    assert await store.queue_depth() == {"done": 10}


async def test_a_failed_message_can_be_retried_once(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, tenant, clock)
    (job,) = await claim_all(store, clock)
    await store.finish_sends([completion(job, "failed", dead=True)])

    assert await store.retry_message(tenant.id, message_id) == "failed"
    assert await store.retry_message(tenant.id, message_id) == "queued"
    (again,) = await claim_all(store, clock)
    assert (again.id, again.attempts) == (job.id, 1)


# ---- every status change has an event --------------------------------------------------------


async def test_every_status_change_writes_an_event(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    watch = StatusWatch(store, tenant)
    for _ in range(5):
        await accept(store, tenant, clock)
    await accept(store, tenant, clock, scheduled_at=ids.iso(clock.now() + timedelta(seconds=30)))
    await watch.check()

    a, b, c, d, e = await claim_all(store, clock)
    await watch.check()
    await store.finish_sends(
        [
            completion(a, "sent"),
            completion(b, "failed", dead=True),
            completion(c, "bounced"),
            completion(d, "queued", retry_at=ids.iso(clock.now() + timedelta(seconds=10))),
        ]
    )
    await watch.check()
    await store.release([e])  # shutdown hands an unstarted claim back
    await watch.check()
    await store.retry_message(tenant.id, b.ref_id)
    await watch.check()
    clock.advance(30)
    await claim_all(store, clock)  # e, the retry of d, b again and the scheduled one
    await watch.check()
    await store.release_all_leases()  # a restart
    await watch.check()
    await claim_all(store, clock)
    clock.advance(LEASE.total_seconds() + 1)
    await store.release_expired_leases(clock.now())
    await watch.check()


# ---- listing ---------------------------------------------------------------------------------


async def test_list_is_newest_first_and_pages_by_cursor_without_gaps(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    made = []
    for i in range(7):
        made.append((ids.iso(clock.now()), await accept(store, tenant, clock)))
        if i % 2:
            clock.advance(1)  # some share a created_at: the id breaks the tie
    seen: list[str] = []
    after = None
    while True:
        page = await store.list_messages(tenant.id, MessageSearch(limit=3, after=after))
        seen += [m.id for m in page]
        if len(page) < 3:
            break
        after = (page[-1].created_at, page[-1].id)

    assert seen == [m for _c, m in sorted(made, reverse=True)]


# ---- the SQLite writer (group commit) ---------------------------------------------------------


def _writer_db(store: Store) -> Any:
    assert isinstance(store, SqliteStore), "the SQLite writer's own tests run on SQLite"
    return store.db


@contextlib.contextmanager
def write_lock_held_elsewhere(db: Any) -> Iterator[None]:
    """Another connection (another process, e.g. a CLI command) holds the write lock, so the
    store's writes queue up until the block ends."""
    other = sqlite3.connect(db.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("COMMIT")
    finally:
        other.close()


@pytest.mark.parametrize("backend", ["sqlite"])  # the SQLite writer itself
async def test_concurrent_writes_share_one_commit(store: Store) -> None:
    db = _writer_db(store)
    await db.write(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
    before = db.commits

    with write_lock_held_elsewhere(db):
        writes = [
            asyncio.ensure_future(
                db.write(lambda c, i=i: c.execute("INSERT INTO t VALUES (?)", (i,)))
            )
            for i in range(50)
        ]
        await asyncio.sleep(0)  # one loop step: every write is queued
    await asyncio.gather(*writes)

    assert db.commits - before == 1  # 50 writes, one commit (one fsync)
    assert await db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 50


@pytest.mark.parametrize("backend", ["sqlite"])  # the SQLite writer itself
async def test_a_failing_write_rolls_back_alone_inside_a_group_commit(store: Store) -> None:
    db = _writer_db(store)
    await db.write(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
    before = db.commits

    def insert(i: int) -> Callable[[sqlite3.Connection], int]:
        def fn(c: sqlite3.Connection) -> int:
            c.execute("INSERT INTO t VALUES (?)", (i,))
            if i == 7:
                c.execute("INSERT INTO t VALUES (1000)")
                raise ValueError("boom")
            return i

        return fn

    with write_lock_held_elsewhere(db):
        writes = [asyncio.ensure_future(db.write(insert(i))) for i in range(20)]
        await asyncio.sleep(0)
    results = await asyncio.gather(*writes, return_exceptions=True)

    assert isinstance(results[7], ValueError)
    assert [r for i, r in enumerate(results) if i != 7] == [i for i in range(20) if i != 7]
    assert db.commits - before == 1
    rows = await db.read(lambda c: [r[0] for r in c.execute("SELECT x FROM t ORDER BY x")])
    assert rows == [i for i in range(20) if i != 7]


@pytest.mark.parametrize("backend", ["sqlite"])  # the SQLite writer itself
async def test_a_write_waits_for_another_processs_write_lock_instead_of_failing(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    db = _writer_db(store)

    with write_lock_held_elsewhere(db):
        pending = asyncio.ensure_future(store.accept_message(tenant.id, new_message(clock)))
        with pytest.raises(TimeoutError):  # still waiting, not failed with "database is locked"
            await asyncio.wait_for(asyncio.shield(pending), timeout=0.2)
    result = await pending

    assert isinstance(result, Accepted)


@pytest.mark.parametrize("backend", ["sqlite"])  # the SQLite writer itself
async def test_writes_wait_off_the_loop_for_another_workers_turn_then_commit_as_one_group(
    store: Store,
) -> None:
    db = _writer_db(store)
    await db.write(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
    before = db.commits
    other = os.open(db.path + "-writer", os.O_RDWR)  # another worker's handle on the turn
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        writes = [
            asyncio.ensure_future(
                db.write(lambda c, i=i: c.execute("INSERT INTO t VALUES (?)", (i,)))
            )
            for i in range(5)
        ]
        await wait_until(lambda: db.turn_waits == 1, interval=0.005, message="no turn wait")
        for _ in range(20):  # the loop keeps running meanwhile: the wait is on the commit thread
            await asyncio.sleep(0)
        assert db.turn_waits == 1
        assert not any(w.done() for w in writes)
    finally:
        os.close(other)  # the other worker's COMMIT returned: its turn ends
    await asyncio.wait_for(asyncio.gather(*writes), timeout=10)

    assert db.commits - before == 1
    rows = await db.read(lambda c: [r[0] for r in c.execute("SELECT x FROM t ORDER BY x")])
    assert rows == [0, 1, 2, 3, 4]
    assert os.stat(db.path + "-writer").st_mode & 0o077 == 0


@pytest.mark.parametrize("backend", ["sqlite"])  # the SQLite writer itself
async def test_a_write_is_durable_when_it_returns(store: Store, tmp_path: Path) -> None:
    db = _writer_db(store)
    await db.write(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))

    await db.write(lambda c: c.execute("INSERT INTO t VALUES (42)"))

    # A fresh connection (another process would see the same) finds the row.
    conn = sqlite3.connect(db.path)
    try:
        assert conn.execute("SELECT x FROM t").fetchall() == [(42,)]
    finally:
        conn.close()


@pytest.mark.parametrize("backend", ["sqlite"])  # the SQLite writer itself
async def test_the_database_runs_in_wal_mode_with_full_sync_by_default(store: Store) -> None:
    db = _writer_db(store)

    mode = await db.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
    sync = await db.write(lambda c: c.execute("PRAGMA synchronous").fetchone()[0])

    assert (mode, sync) == ("wal", 2)


def test_concurrent_first_starts_apply_each_migration_once(tmp_path: Path) -> None:
    # Two CLI commands (or a CLI command and `iep serve`) on a fresh data dir at once.
    path = str(tmp_path / "fresh.db")
    sqlite3.connect(path).close()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def start() -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        try:
            barrier.wait(10)
            migrate(conn)
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert errors == []
    conn = sqlite3.connect(path)
    try:
        schema = resources.files("iep_appliance.store.sqlite").joinpath("schema")
        newest = max(int(e.name[:4]) for e in schema.iterdir() if e.name.endswith(".sql"))
        assert conn.execute("PRAGMA user_version").fetchone()[0] == newest
    finally:
        conn.close()
