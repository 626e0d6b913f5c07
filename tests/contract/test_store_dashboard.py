"""Store conformance for the dashboard's views and actions: the message list's
keyset paging and its bounded scan for filters no index serves, rollup buckets of all tenants
or one, the last minute's outcomes, the DLQ's discard and re-queue, jobs waiting for their
time, attachments, and operator sessions kept by hash, for every backend."""

from datetime import timedelta

from iep_appliance.clock import FakeClock
from iep_appliance.domain import ids
from iep_appliance.domain.analytics import StatusCount, stats_query
from iep_appliance.domain.models import Tenant
from iep_appliance.domain.search import MessageSearch
from iep_appliance.store.base import Store
from tests.contract.test_store import (
    LEASE,
    accept,
    claim_all,
    completion,
)
from tests.support.endpoints import endpoint_record


async def five(store: Store, tenant: Tenant, clock: FakeClock) -> list[str]:
    """Five messages a second apart, oldest first; the 2nd and 4th go to bob."""
    made = []
    for i in range(5):
        to = ("bob@example.com",) if i in (1, 3) else ("ada@example.com",)
        made.append(await accept(store, tenant, clock, to=to))
        clock.advance(1)
    return made


async def test_the_message_list_pages_newest_first_by_created_at_and_id(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    made = await five(store, tenant, clock)

    first = await store.dashboard_messages(MessageSearch(limit=2))
    second = await store.dashboard_messages(MessageSearch(limit=2, after=first.resume))
    last = await store.dashboard_messages(MessageSearch(limit=2, after=second.resume))

    assert [m.id for m in first.items + second.items + last.items] == made[::-1]
    assert last.resume is None


async def test_a_filter_no_index_serves_stops_at_its_scan_window_and_resumes_after_it(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    made = await five(store, tenant, clock)
    bob = MessageSearch(recipient="BOB@example.com", limit=10, scan_limit=2)

    window1 = await store.dashboard_messages(bob)
    window2 = await store.dashboard_messages(
        MessageSearch(**{**_fields(bob), "after": window1.resume})
    )
    window3 = await store.dashboard_messages(
        MessageSearch(**{**_fields(bob), "after": window2.resume})
    )

    assert [m.id for m in window1.items] == [made[3]]  # the newest two rows: 4 and 3
    assert [m.id for m in window2.items] == [made[1]]
    assert window3.items == [] and window3.resume is None


def _fields(f: MessageSearch) -> dict[str, object]:
    return {name: getattr(f, name) for name in f.__struct_fields__}


async def test_an_id_search_reads_one_message_of_any_tenant(
    store: Store, other: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, other, clock)

    found = await store.dashboard_messages(MessageSearch(message_id=message_id))
    missing = await store.dashboard_messages(MessageSearch(message_id="nope"))

    assert [m.id for m in found.items] == [message_id] and missing.items == []


async def test_buckets_count_every_tenant_or_one(
    store: Store, tenant: Tenant, other: Tenant, clock: FakeClock
) -> None:
    await accept(store, tenant, clock)
    await accept(store, other, clock)
    await accept(store, other, clock)
    q = stats_query(clock.now(), group_by="day")

    everyone = await store.dashboard_buckets(q)
    one = await store.dashboard_buckets(q, other.id)

    assert everyone == [StatusCount("2026-01-01", "queued", 3)]
    assert one == [StatusCount("2026-01-01", "queued", 2)]


async def test_the_last_minutes_outcomes_count_only_recent_events(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    await accept(store, tenant, clock)
    for job in await claim_all(store, clock):
        await store.finish_sends([completion(job, "sent")])
    clock.advance(120)
    await accept(store, tenant, clock)
    for job in await claim_all(store, clock):
        await store.finish_sends([completion(job, "failed", dead=True)])

    recent = await store.dashboard_recent_outcomes(clock.now() - timedelta(seconds=60))
    long_ago = await store.dashboard_recent_outcomes(clock.now() - timedelta(hours=1))

    assert recent == {"failed": 1}
    assert long_ago == {"sent": 1, "failed": 1}


async def test_discard_moves_dead_jobs_out_and_leaves_other_states(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    await accept(store, tenant, clock)
    await accept(store, tenant, clock)
    dead, alive = await claim_all(store, clock)
    await store.finish_sends([completion(dead, "failed", dead=True)])
    await store.release([alive])

    n = await store.dashboard_discard_jobs([dead.id, alive.id])

    assert n == 1
    assert await store.dashboard_dead_jobs(10) == []
    states = {j.id: j.state for j in await store.dashboard_job_states([dead.id, alive.id])}
    assert states == {dead.id: "done", alive.id: "ready"}
    assert (await store.dashboard_job_depth())["dead"] == 0


async def test_requeue_touches_dead_webhook_jobs_only(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    await accept(store, tenant, clock)
    (job,) = await claim_all(store, clock)
    await store.finish_sends([completion(job, "failed", dead=True)])

    assert await store.dashboard_requeue_webhook_jobs([job.id]) == 0
    assert (await store.dashboard_job_depth())["dead"] == 1


async def test_a_scheduled_message_waits_with_its_time(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    later = ids.iso(clock.now() + timedelta(days=1))
    message_id = await accept(store, tenant, clock, scheduled_at=later)

    waiting = await store.dashboard_waiting_jobs(clock.now(), 10)

    assert [(j.ref_id, j.run_at, j.attempts) for j in waiting] == [(message_id, later, 0)]
    assert await store.dashboard_waiting_jobs(clock.now(), 10, (later, waiting[0].id)) == []


async def test_an_unknown_attachment_is_none(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, tenant, clock)

    assert await store.dashboard_attachment(message_id, "nope") is None


async def test_a_session_is_found_by_its_hash_until_it_expires_or_is_dropped(
    store: Store, clock: FakeClock
) -> None:
    await store.save_admin_session("h1", "a@example.org", "admin", clock.now() + LEASE)
    await store.save_admin_session("h2", "b@example.org", "viewer", clock.now() + LEASE)

    found = await store.admin_session("h1")
    await store.drop_admin_session("h2")
    clock.advance(LEASE.total_seconds() + 1)

    assert found is not None and (found.email, found.role) == ("a@example.org", "admin")
    assert await store.admin_session("h2") is None
    assert await store.admin_session("h1") is None  # expired


async def test_a_message_waiting_for_a_retry_is_listed_with_its_attempt(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    await accept(store, tenant, clock)
    (job,) = await claim_all(store, clock)
    retry_at = ids.iso(clock.now() + timedelta(minutes=5))
    await store.finish_sends([completion(job, "queued", retry_at=retry_at, error="451 later")])

    (waiting,) = await store.dashboard_waiting_jobs(clock.now(), 10)

    assert (waiting.ref_id, waiting.run_at, waiting.attempts) == (job.ref_id, retry_at, 1)
    assert waiting.last_error == "451 later"


async def test_a_dead_webhook_job_is_requeued_due_now(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    now = ids.iso(clock.now())
    await store.create_webhook(endpoint_record(clock.new_id(), tenant.id, now=now))
    await accept(store, tenant, clock)
    (send,) = await claim_all(store, clock)
    await store.finish_sends([completion(send, "sent", webhook_event="sent")])
    (hook,) = await claim_all(store, clock)
    await store.drop_webhook_job(hook.id, "endpoint gone")
    assert [j.kind for j in await store.dashboard_dead_jobs(10)] == ["webhook"]

    n = await store.dashboard_requeue_webhook_jobs([hook.id])

    assert n == 1
    assert await store.dashboard_dead_jobs(10) == []
    assert [j.id for j in await claim_all(store, clock)] == [hook.id]


async def _endpoint_with_events(store: Store, tenant: Tenant, clock: FakeClock, n: int) -> str:
    """An endpoint for `sent` and `n` sent messages: `n` webhook jobs waiting for it."""
    now = ids.iso(clock.now())
    endpoint_id = clock.new_id()
    await store.create_webhook(endpoint_record(endpoint_id, tenant.id, now=now))
    for _ in range(n):
        await accept(store, tenant, clock)
    sends = await claim_all(store, clock)
    await store.finish_sends([completion(s, "sent", webhook_event="sent") for s in sends])
    return endpoint_id


async def test_deleting_an_endpoint_cancels_its_events_without_dead_letters(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    endpoint_id = await _endpoint_with_events(store, tenant, clock, 3)
    claimed, *_unclaimed = await claim_all(store, clock, limit=1)
    assert claimed.kind == "webhook"

    assert await store.delete_webhook(tenant.id, endpoint_id)
    assert await store.dashboard_dead_jobs(10) == []  # the two unclaimed: cancelled
    await store.cancel_webhook_job(claimed.id, "endpoint deleted")  # the dispatcher's view

    assert await store.dashboard_dead_jobs(10) == []
    assert (await store.dashboard_job_depth())["dead"] == 0
    assert (await store.dashboard_job_depth())["ready"] == 0
    assert await claim_all(store, clock) == []  # nothing left to deliver either


async def test_recipient_means_a_whole_address_as_in_the_tenant_api(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    made = await five(store, tenant, clock)

    whole = await store.dashboard_messages(MessageSearch(recipient="Bob@Example.com"))
    part = await store.dashboard_messages(MessageSearch(recipient="bob@"))
    api = await store.list_messages(tenant.id, MessageSearch(recipient="Bob@Example.com"))

    assert [m.id for m in whole.items] == [made[3], made[1]]
    assert part.items == []
    assert [m.id for m in api] == [m.id for m in whole.items]
