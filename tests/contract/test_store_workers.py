"""Conformance of the verbs processes sharing one store use (worker processes, nodes): the
change feed, rate windows decided in the store, leases released by their owner. Runs over
every backend of tests/contract/conftest.py; `open_store()` is another process's handle."""

import asyncio
from datetime import timedelta

from iep_appliance.clock import FakeClock
from iep_appliance.domain.changes import NodeBeat, ProviderBeat
from iep_appliance.domain.models import Tenant
from iep_appliance.domain.ratelimit import Limits
from iep_appliance.store.base import Store
from tests.contract.conftest import OpenStore
from tests.contract.test_store import LEASE, accept

# ---- the change feed -------------------------------------------------------------------------


async def test_changes_are_read_back_after_an_id_in_order(
    store: Store, open_store: OpenStore
) -> None:
    other = await open_store()
    assert await store.last_change() == 0
    first = await store.note_change("key", "k1")
    second = await other.note_change("tenant", "t1")
    assert second > first > 0
    assert await other.last_change() == second

    seen = await other.changes_after(0)

    assert [(c.id, c.kind, c.ref) for c in seen] == [(first, "key", "k1"), (second, "tenant", "t1")]
    assert [c.ref for c in await store.changes_after(first)] == ["t1"]
    assert await store.changes_after(second) == []


async def test_old_changes_are_purged_and_ids_keep_growing(store: Store, clock: FakeClock) -> None:
    old = await store.note_change("key", "old")
    clock.advance(2 * 3600)
    kept = await store.note_change("key", "new")

    assert await store.purge_changes(clock.now() - timedelta(hours=1)) == 1

    assert [c.ref for c in await store.changes_after(0)] == ["new"]
    assert kept > old
    assert await store.note_change("queues", "t") > kept


# ---- rate windows decided in the store -------------------------------------------------------


async def test_a_reservation_counts_in_the_store_and_refuses_over_the_limit(
    store: Store, open_store: OpenStore, tenant: Tenant
) -> None:
    other = await open_store()
    limits = Limits(per_minute=3)

    first = await store.reserve_rate(tenant.id, limits, 2)
    second = await other.reserve_rate(tenant.id, limits, 1)
    over = await store.reserve_rate(tenant.id, limits, 1)

    assert first.allowed and second.allowed and not over.allowed
    assert over.retry_after is not None and over.retry_after >= 1
    await other.refund_rate(tenant.id, 2)
    assert (await store.reserve_rate(tenant.id, limits, 2)).allowed
    assert not (await other.reserve_rate(tenant.id, limits, 1)).allowed


async def test_concurrent_reservations_from_two_processes_allow_exactly_the_limit(
    store: Store, open_store: OpenStore, tenant: Tenant
) -> None:
    other = await open_store()
    limits = Limits(per_minute=7)

    decisions = await asyncio.gather(
        *(s.reserve_rate(tenant.id, limits, 1) for s in [store, other] * 10)
    )

    assert sum(d.allowed for d in decisions) == 7


async def test_a_refund_never_goes_below_zero(store: Store, tenant: Tenant) -> None:
    limits = Limits(per_minute=2)
    await store.reserve_rate(tenant.id, limits, 1)

    await store.refund_rate(tenant.id, 5)

    assert (await store.reserve_rate(tenant.id, limits, 2)).allowed
    assert not (await store.reserve_rate(tenant.id, limits, 1)).allowed


# ---- leases by owner -------------------------------------------------------------------------


async def test_an_owner_releases_only_its_own_leases(
    store: Store, open_store: OpenStore, tenant: Tenant, clock: FakeClock
) -> None:
    w0, w1 = store, await open_store()
    w0.node_id, w1.node_id = "w0", "w1"
    for _ in range(4):
        await accept(store, tenant, clock)
    mine = await w0.claim_due(clock.now(), 2, LEASE)
    theirs = await w1.claim_due(clock.now(), 2, LEASE)

    assert await w1.release_owned_leases("w1", []) == 2

    again = await w0.claim_due(clock.now(), 10, LEASE)
    assert {j.id for j in again} == {j.id for j in theirs}
    for job in theirs:
        record = await store.get_message(tenant.id, job.ref_id)
        assert record is not None and record.status == "processing"
    assert not {j.id for j in again} & {j.id for j in mine}


async def test_the_first_owner_also_releases_leases_no_current_owner_holds(
    store: Store, open_store: OpenStore, tenant: Tenant, clock: FakeClock
) -> None:
    gone, w0 = store, await open_store()
    gone.node_id, w0.node_id = "w5", "w0"
    for _ in range(3):
        await accept(store, tenant, clock)
    await gone.claim_due(clock.now(), 2, LEASE)  # an owner no longer running
    kept = await w0.claim_due(clock.now(), 1, LEASE)

    assert await w0.release_owned_leases("w1", ["w0", "w1"]) == 2

    freed = await w0.claim_due(clock.now(), 10, LEASE)
    assert len(freed) == 2 and not {j.id for j in freed} & {j.id for j in kept}
    for job in freed:
        record = await store.get_message(tenant.id, job.ref_id)
        assert record is not None and [e.type for e in record.events].count("queued") >= 2


# ---- which process runs the singletons -------------------------------------------------------


async def test_one_node_holds_the_singletons_and_another_takes_over_when_it_closes(
    store: Store, open_store: OpenStore, backend: str
) -> None:
    other = await open_store()
    assert await store.hold_singletons() is True
    assert await store.hold_singletons() is True  # held: still this node's
    if backend == "sqlite":  # one machine: the worker role decides, not the store
        assert await other.hold_singletons() is True
        return
    assert await other.hold_singletons() is False

    await store.close()  # a dead node's session (and lock) ends the same way

    assert await other.hold_singletons() is True
    await store.open()  # the fixture closes it again


# ---- heartbeats --------------------------------------------------------------------------------


async def test_each_process_has_one_heartbeat_row_the_latest(
    store: Store, open_store: OpenStore
) -> None:
    other = await open_store()
    await store.heartbeat(
        NodeBeat("n1", "h1", 10, "x", "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z")
    )
    await other.heartbeat(
        NodeBeat("n2", "h2", 20, "x", "2026-01-01T00:00:00Z", "2026-01-01T00:00:06Z")
    )
    await store.heartbeat(
        NodeBeat("n1", "h1", 10, "x", "2026-01-01T00:00:00Z", "2026-01-01T00:00:09Z")
    )

    nodes = await other.list_nodes()

    assert [(n.node_id, n.pid, n.heartbeat_at) for n in nodes] == [
        ("n1", 10, "2026-01-01T00:00:09Z"),
        ("n2", 20, "2026-01-01T00:00:06Z"),
    ]


async def test_a_heartbeat_carries_its_providers_and_the_latest_replaces_them(
    store: Store, open_store: OpenStore
) -> None:
    other = await open_store()
    failing = ProviderBeat("relay", "open", "connect: refused", "2026-01-01T00:00:04Z")
    start, at = "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z"
    await store.heartbeat(NodeBeat("n1", "h1", 10, "x", start, at, (failing,)))
    await store.heartbeat(NodeBeat("n2", "h2", 20, "x", start, at))
    first = {n.node_id: n.providers for n in await other.list_nodes()}
    await store.heartbeat(
        NodeBeat(
            "n1", "h1", 10, "x", start, "2026-01-01T00:00:09Z", (ProviderBeat("relay", "closed"),)
        )
    )

    latest = {n.node_id: n.providers for n in await other.list_nodes()}

    assert first == {"n1": (failing,), "n2": ()}
    assert latest["n1"] == (ProviderBeat("relay", "closed", None, None),)
