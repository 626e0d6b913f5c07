"""Store conformance for recurring sends and analytics: a tick's run
record and its message commit together and a tick never runs twice; an update wins over an
in-flight tick; a paused job refuses cron ticks; another tenant's job reads as missing; the
rollups count every accept and outcome once per message, tag rows only for filtering.
Runs over every backend through the fixtures of test_store.py."""

from datetime import timedelta
from typing import Any

import msgspec
import pytest

from iep_appliance.clock import FakeClock
from iep_appliance.domain import ids
from iep_appliance.domain.analytics import stats_query
from iep_appliance.domain.errors import Conflict, NotFound
from iep_appliance.domain.models import Accepted, Replayed, Tenant
from iep_appliance.domain.schedules import ScheduledJob, ScheduledRun, tick_key
from iep_appliance.domain.search import MessageSearch
from iep_appliance.store.base import Store
from tests.contract.test_store import accept, claim_all, completion, new_message

TICK = "2026-01-01T00:01:00.000Z"
NEXT = "2026-01-01T00:02:00.000Z"


async def make_job(store: Store, tenant: Tenant, clock: FakeClock, **kw: Any) -> ScheduledJob:
    now = ids.iso(clock.now())
    fields: dict[str, Any] = {
        "id": clock.new_id(),
        "tenant_id": tenant.id,
        "name": "digest",
        "cron": "* * * * *",
        "timezone": "UTC",
        "kind": "message",
        "payload": {"to": ["ada@example.com"]},
        "active": True,
        "sandbox": False,
        "revision": 1,
        "last_run_at": None,
        "next_run_at": TICK,
        "created_at": now,
        "updated_at": now,
    }
    fields.update(kw)
    return await store.create_scheduled_job(ScheduledJob(**fields))


def tick_message(clock: FakeClock, job: ScheduledJob, tick: str = TICK, **kw: Any) -> Any:
    return new_message(clock, idempotency_key=tick_key(job.id, tick), body_hash="h", **kw)


async def test_a_tick_commits_its_message_and_run_once(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    job = await make_job(store, tenant, clock)
    first = await store.accept_scheduled_message(
        tenant.id, job.id, job.revision, TICK, tick_message(clock, job), NEXT
    )
    again = await store.accept_scheduled_message(
        tenant.id, job.id, job.revision, TICK, tick_message(clock, job), NEXT
    )
    assert isinstance(first, Accepted) and isinstance(again, Replayed)
    assert again.message_id == first.message_id and again.status == "queued"
    assert len(await store.list_messages(tenant.id, MessageSearch())) == 1
    runs = await store.list_scheduled_runs(tenant.id, job.id, 10, None)
    assert [(r.tick, r.message_id, r.count) for r in runs] == [(TICK, first.message_id, 1)]
    current = await store.get_scheduled_job(tenant.id, job.id)
    assert current is not None and current.next_run_at == NEXT
    assert current.last_run_at == ids.iso(clock.now())


async def test_an_update_during_a_tick_keeps_its_own_schedule(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    job = await make_job(store, tenant, clock)
    updated = await store.update_scheduled_job(
        msgspec.structs.replace(job, cron="0 9 * * *", next_run_at="2026-01-01T09:00:00.000Z")
    )
    assert updated is not None and updated.revision == job.revision + 1
    result = await store.accept_scheduled_message(
        tenant.id, job.id, job.revision, TICK, tick_message(clock, job), NEXT
    )
    assert isinstance(result, Accepted)
    current = await store.get_scheduled_job(tenant.id, job.id)
    assert current is not None and current.next_run_at == "2026-01-01T09:00:00.000Z"
    assert current.last_run_at is not None


async def test_a_paused_job_refuses_a_cron_tick_but_not_a_run_now(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    job = await make_job(store, tenant, clock)
    await store.update_scheduled_job(msgspec.structs.replace(job, active=False, next_run_at=None))
    with pytest.raises(Conflict):
        await store.accept_scheduled_message(
            tenant.id, job.id, job.revision + 1, TICK, tick_message(clock, job), NEXT
        )
    assert await store.list_messages(tenant.id, MessageSearch()) == []
    manual = "manual:1"
    result = await store.accept_scheduled_message(
        tenant.id, job.id, None, manual, tick_message(clock, job, manual), None
    )
    assert isinstance(result, Accepted)
    current = await store.get_scheduled_job(tenant.id, job.id)
    assert current is not None and current.next_run_at is None


async def test_a_recorded_run_is_kept_once(store: Store, tenant: Tenant, clock: FakeClock) -> None:
    job = await make_job(store, tenant, clock)
    now = ids.iso(clock.now())
    run = ScheduledRun(job.id, TICK, now, batch_id="b1", count=3)
    assert await store.record_scheduled_run(tenant.id, job.id, 1, run, NEXT) == run
    later = ScheduledRun(job.id, TICK, now, error="should not replace the first")
    assert await store.record_scheduled_run(tenant.id, job.id, 1, later, NEXT) == run
    assert await store.list_scheduled_runs(tenant.id, job.id, 10, None) == [run]


async def test_due_jobs_are_the_active_ones_whose_tick_has_come(
    store: Store, tenant: Tenant, other: Tenant, clock: FakeClock
) -> None:
    due = await make_job(store, tenant, clock)
    theirs = await make_job(store, other, clock, next_run_at="2026-01-01T00:00:30.000Z")
    await make_job(store, tenant, clock, next_run_at="2026-01-02T00:00:00.000Z")
    await make_job(store, tenant, clock, active=False, next_run_at=None)
    found = await store.due_scheduled_jobs(clock.now() + timedelta(minutes=1), 10)
    assert [j.id for j in found] == [theirs.id, due.id]
    assert await store.next_scheduled_run_at() == ids.parse_iso("2026-01-01T00:00:30.000Z")


async def test_another_tenants_scheduled_job_reads_as_missing(
    store: Store, tenant: Tenant, other: Tenant, clock: FakeClock
) -> None:
    job = await make_job(store, tenant, clock)
    assert await store.get_scheduled_job(other.id, job.id) is None
    assert await store.list_scheduled_jobs(other.id, 10, None) == []
    assert (
        await store.update_scheduled_job(msgspec.structs.replace(job, tenant_id=other.id)) is None
    )
    assert await store.delete_scheduled_job(other.id, job.id) is False
    with pytest.raises(NotFound):
        await store.accept_scheduled_message(
            other.id, job.id, job.revision, TICK, tick_message(clock, job), NEXT
        )
    assert await store.get_scheduled_job(tenant.id, job.id) == job


async def test_delete_removes_the_job_and_its_runs(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    job = await make_job(store, tenant, clock)
    await store.accept_scheduled_message(
        tenant.id, job.id, job.revision, TICK, tick_message(clock, job), NEXT
    )
    assert await store.delete_scheduled_job(tenant.id, job.id) is True
    assert await store.get_scheduled_job(tenant.id, job.id) is None
    assert await store.list_scheduled_runs(tenant.id, job.id, 10, None) == []
    assert len(await store.list_messages(tenant.id, MessageSearch())) == 1  # messages stay


async def test_rollups_count_each_accept_and_outcome_once_per_message(
    store: Store, tenant: Tenant, other: Tenant, clock: FakeClock
) -> None:
    meta = {"category": "news"}
    await accept(store, tenant, clock, metadata={**meta, "tags": ["a", "b"]}, category="news")
    await accept(store, tenant, clock, metadata={**meta, "tags": ["b", "b"]}, category="news")
    await accept(store, tenant, clock, queue="bulk")
    later = ids.iso(clock.now() + timedelta(days=1))
    await accept(store, tenant, clock, scheduled_at=later)
    jobs = sorted(await claim_all(store, clock), key=lambda j: j.ref_id)
    assert len(jobs) == 3
    await store.finish_sends(
        [
            completion(jobs[0], "sent"),
            completion(jobs[1], "queued", retry_at=ids.iso(clock.now())),
            completion(jobs[2], "failed"),
        ]
    )
    q = stats_query(clock.now())
    every = await store.stats_totals(tenant.id, q)
    assert every == {"queued": 3, "scheduled": 1, "sent": 1, "retried": 1, "failed": 1}
    b = await store.stats_totals(tenant.id, stats_query(clock.now(), tag="b"))
    assert b["queued"] == 2
    news = await store.stats_totals(tenant.id, stats_query(clock.now(), category="news"))
    assert news["queued"] == 2
    bulk = await store.stats_totals(tenant.id, stats_query(clock.now(), queue="bulk"))
    assert bulk["queued"] == 1 and sum(bulk.values()) == 2  # its accept and its outcome
    rows = await store.delivery_stats(tenant.id, q)
    hour = ids.iso(clock.now())[:13]
    assert {(r.bucket, r.status): r.count for r in rows}[(hour, "queued")] == 3
    assert await store.stats_totals(other.id, q) == {}
    backlog = await store.message_backlog(tenant.id)
    assert backlog["default"]["scheduled"] == 1
    assert sum(by_status.get("queued", 0) for by_status in backlog.values()) == 1  # the retry
