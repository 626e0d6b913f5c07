"""Store conformance for workflows: batches are all or nothing, the claim honours
paused and held queues and the fair-share lane, cancellation only stops what has not started,
a queue's new priority re-ranks its waiting jobs, another tenant's ids read as missing.
Runs over every backend through the fixtures of test_store.py."""

from datetime import timedelta
from typing import Any

import msgspec
import pytest

from iep_appliance.clock import FakeClock
from iep_appliance.domain import ids
from iep_appliance.domain.errors import Conflict, ValidationFailed
from iep_appliance.domain.models import (
    BatchAccepted,
    BatchReplayed,
    NewBatch,
    Queue,
    Tenant,
)
from iep_appliance.domain.search import MessageSearch
from iep_appliance.store.base import Store
from tests.contract.test_store import LEASE, accept, claim_all, new_message


async def make_queue(store: Store, tenant: Tenant, clock: FakeClock, name: str, **kw: Any) -> Queue:
    now = ids.iso(clock.now())
    fields: dict[str, Any] = {
        "id": clock.new_id(),
        "tenant_id": tenant.id,
        "name": name,
        "priority": 5,
        "rate_per_minute": None,
        "retry_schedule": None,
        "state": "active",
        "created_at": now,
        "updated_at": now,
        **kw,
    }
    return await store.create_queue(Queue(**fields))


def new_batch(clock: FakeClock, queue: Queue, count: int, **kw: Any) -> NewBatch:
    fields: dict[str, Any] = {
        "id": clock.new_id(),
        "count": count,
        "queue": queue.name,
        "queue_id": queue.id,
        "scheduled_at": None,
        "sandbox": False,
        "idempotency_key": None,
        "body_hash": None,
        "created_at": ids.iso(clock.now()),
        **kw,
    }
    return NewBatch(**fields)


async def test_a_batch_is_all_or_nothing(store: Store, tenant: Tenant, clock: FakeClock) -> None:
    queue = await store.default_queue(tenant.id)
    batch = new_batch(clock, queue, 3)
    first = new_message(clock, batch_id=batch.id, queue_id=queue.id)
    clash = new_message(clock, id=first.id, batch_id=batch.id, queue_id=queue.id)
    with pytest.raises(Exception):  # noqa: B017 - the backend's integrity error
        await store.accept_batch(tenant.id, batch, [first, new_message(clock), clash])
    assert await store.get_batch(tenant.id, batch.id) is None
    assert await store.list_messages(tenant.id, MessageSearch()) == []
    assert await claim_all(store, clock) == []

    ok = new_batch(clock, queue, 2, idempotency_key="k", body_hash="h1")
    msgs = [new_message(clock, batch_id=ok.id, queue_id=queue.id) for _ in range(2)]
    result = await store.accept_batch(tenant.id, ok, msgs)
    assert isinstance(result, BatchAccepted) and result.count == 2
    replay = await store.accept_batch(
        tenant.id, new_batch(clock, queue, 2, idempotency_key="k", body_hash="h1"), []
    )
    assert isinstance(replay, BatchReplayed) and replay.batch_id == ok.id
    with pytest.raises(Conflict):
        await store.accept_batch(
            tenant.id, new_batch(clock, queue, 2, idempotency_key="k", body_hash="h2"), []
        )
    record = await store.get_batch(tenant.id, ok.id)
    assert record is not None and record.counts == {"queued": 2}


async def test_a_draining_or_deleted_queue_accepts_nothing(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    queue = await make_queue(store, tenant, clock, "q")
    await store.set_queue_state(tenant.id, queue.id, "draining")
    with pytest.raises(Conflict):
        await store.accept_message(tenant.id, new_message(clock, queue="q", queue_id=queue.id))
    await store.set_queue_state(tenant.id, queue.id, "active")
    assert await store.delete_queue(tenant.id, queue.id)
    with pytest.raises(ValidationFailed):
        await store.accept_batch(tenant.id, new_batch(clock, queue, 1), [new_message(clock)])


async def test_the_claim_never_takes_jobs_of_a_paused_queue(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    queue = await make_queue(store, tenant, clock, "q")
    await store.set_queue_state(tenant.id, queue.id, "paused")
    held = await accept(store, tenant, clock, queue="q", queue_id=queue.id)
    free = await accept(store, tenant, clock)
    assert [j.ref_id for j in await claim_all(store, clock)] == [free]
    await store.set_queue_state(tenant.id, queue.id, "active")
    [job] = await claim_all(store, clock)
    assert (job.ref_id, job.queue_id) == (held, queue.id)

    # paused while in flight: a released lease must not make the job claimable
    await store.set_queue_state(tenant.id, queue.id, "paused")
    await store.release([job])
    assert await claim_all(store, clock) == []
    assert await store.next_run_at() is None, "the released job was parked, not left due"
    await store.set_queue_state(tenant.id, queue.id, "active")
    assert [j.ref_id for j in await claim_all(store, clock)] == [held]


async def test_held_queues_wait_for_their_window(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    queue = await make_queue(store, tenant, clock, "slow", rate_per_minute=1)
    slow = [await accept(store, tenant, clock, queue="slow", queue_id=queue.id) for _ in range(3)]
    fast = await accept(store, tenant, clock)
    until = clock.now() + timedelta(seconds=45)
    jobs = await store.claim_due(clock.now(), 10, LEASE, hold_queues=(queue.id,), hold_until=until)
    assert [j.ref_id for j in jobs] == [fast]
    assert await store.next_run_at() == until.replace(microsecond=until.microsecond // 1000 * 1000)
    clock.advance(45)
    assert sorted(j.ref_id for j in await claim_all(store, clock)) == sorted(slow)


async def test_deferred_jobs_come_back_at_the_window_without_an_attempt(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    queue = await make_queue(store, tenant, clock, "slow", rate_per_minute=1)
    ids_ = [await accept(store, tenant, clock, queue="slow", queue_id=queue.id) for _ in range(2)]
    jobs = await claim_all(store, clock)
    until = clock.now() + timedelta(seconds=30)
    await store.defer_jobs(jobs[1:], until, [queue.id])
    message = await store.get_message(tenant.id, jobs[1].ref_id)
    assert message is not None and message.status == "queued" and message.attempts == 0
    assert await claim_all(store, clock) == []
    clock.advance(30)
    [again] = await claim_all(store, clock)
    assert again.ref_id == jobs[1].ref_id and again.attempts == 1
    assert set(ids_) == {jobs[0].ref_id, again.ref_id}


async def test_the_fair_lane_reaches_lower_ranks_under_a_higher_backlog(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    high = [await accept(store, tenant, clock, job_priority=-14) for _ in range(10)]
    low = [await accept(store, tenant, clock, job_priority=13) for _ in range(10)]
    strict = await store.claim_due(clock.now(), 4, LEASE)
    assert [j.ref_id for j in strict] == high[:4]
    fair = await store.claim_due(clock.now(), 4, LEASE, lane=1, lane_from=-13)
    assert sorted(j.ref_id for j in fair) == sorted([*high[4:7], low[0]])
    # the lane wraps to the top when nothing is left at or below its cursor
    wrapped = await store.claim_due(clock.now(), 3, LEASE, lane=1, lane_from=14)
    assert [j.ref_id for j in wrapped] == high[7:10]


async def test_cancel_stops_only_what_has_not_started(
    store: Store, tenant: Tenant, other: Tenant, clock: FakeClock
) -> None:
    later = ids.iso(clock.now() + timedelta(hours=1))
    waiting = await accept(store, tenant, clock, scheduled_at=later)
    started = await accept(store, tenant, clock)
    await claim_all(store, clock)
    assert await store.cancel_message(other.id, waiting) is None
    assert await store.cancel_message(tenant.id, started) == "processing"
    assert await store.cancel_message(tenant.id, waiting) == "cancelled"
    assert await store.cancel_message(tenant.id, waiting) == "cancelled"
    message = await store.get_message(tenant.id, waiting)
    assert message is not None and [e.type for e in message.events] == ["scheduled", "cancelled"]
    clock.advance(7200)
    assert await claim_all(store, clock) == []


async def test_reschedule_moves_a_waiting_message_and_its_job_only(
    store: Store, tenant: Tenant, other: Tenant, clock: FakeClock
) -> None:
    later = ids.iso(clock.now() + timedelta(hours=1))
    much_later = ids.iso(clock.now() + timedelta(hours=3))
    waiting = await accept(store, tenant, clock, scheduled_at=later)
    started = await accept(store, tenant, clock)
    await claim_all(store, clock)
    assert await store.reschedule_message(other.id, waiting, much_later) is None
    assert await store.reschedule_message(tenant.id, started, much_later) == "processing"
    assert await store.reschedule_message(tenant.id, waiting, much_later) == "scheduled"
    message = await store.get_message(tenant.id, waiting)
    assert message is not None and message.scheduled_at == much_later
    clock.advance(7200)  # past the old time, before the new one
    assert await claim_all(store, clock) == []
    clock.advance(7200)
    assert [j.ref_id for j in await claim_all(store, clock)] == [waiting]


async def test_batch_cancel_counts_and_scopes_by_tenant(
    store: Store, tenant: Tenant, other: Tenant, clock: FakeClock
) -> None:
    queue = await store.default_queue(tenant.id)
    later = ids.iso(clock.now() + timedelta(hours=1))
    batch = new_batch(clock, queue, 3, scheduled_at=later)
    msgs = [
        new_message(clock, batch_id=batch.id, queue_id=queue.id, scheduled_at=later)
        for _ in range(3)
    ]
    await store.accept_batch(tenant.id, batch, msgs)
    assert await store.cancel_batch(other.id, batch.id) is None
    assert await store.get_batch(other.id, batch.id) is None
    assert await store.cancel_batch(tenant.id, batch.id) == 3
    record = await store.get_batch(tenant.id, batch.id)
    assert record is not None and record.counts == {"cancelled": 3}


async def test_a_new_queue_priority_reranks_waiting_jobs(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    queue = await make_queue(store, tenant, clock, "q")
    plain = await accept(store, tenant, clock, job_priority=1)
    in_queue = await accept(
        store, tenant, clock, queue="q", queue_id=queue.id, job_priority=2, priority="low"
    )
    await store.update_queue(msgspec.structs.replace(queue, priority=10))  # → rank -13
    jobs = await store.claim_due(clock.now(), 1, LEASE)
    assert [(j.ref_id, j.priority) for j in jobs] == [(in_queue, -13)]
    assert [j.ref_id for j in await claim_all(store, clock)] == [plain]


async def test_another_tenants_queue_reads_as_missing(
    store: Store, tenant: Tenant, other: Tenant, clock: FakeClock
) -> None:
    queue = await make_queue(store, tenant, clock, "mine")
    assert await store.get_queue(other.id, queue.id) is None
    assert await store.queue_by_name(other.id, "mine") is None
    assert await store.set_queue_state(other.id, queue.id, "paused") is None
    assert await store.delete_queue(other.id, queue.id) is False
    assert [q.name for q in await store.list_queues(other.id, "", 10)] == []
    with pytest.raises(Conflict):
        await make_queue(store, tenant, clock, "mine")
    assert (await make_queue(store, other, clock, "mine")).tenant_id == other.id
