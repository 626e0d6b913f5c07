"""Store conformance for retention and snapshots, for every backend: a purge step
removes only finished messages last changed before the cutoff and walks the rest in keyset
order; a snapshot is a consistent, checkable copy taken while writes go on."""

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from iep_appliance.clock import FakeClock
from iep_appliance.domain import ids
from iep_appliance.domain.models import Tenant
from iep_appliance.store.base import Store
from tests.contract.test_store import accept, claim_all, completion


async def test_purge_steps_remove_only_finished_messages_past_the_cutoff(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    finished = [await accept(store, tenant, clock) for _ in range(3)]
    jobs = await claim_all(store, clock)
    await store.finish_sends([completion(j, "sent") for j in jobs])
    leased = await accept(store, tenant, clock)
    assert len(await claim_all(store, clock)) == 1  # processing: never purged
    later = ids.iso(clock.now() + timedelta(days=1))
    scheduled = await accept(store, tenant, clock, scheduled_at=later)
    clock.advance(60)
    recent = await accept(store, tenant, clock)
    [job] = await claim_all(store, clock)
    await store.finish_sends([completion(job, "failed")])
    cutoff = ids.iso(clock.now() - timedelta(seconds=30))

    purged, after, steps = 0, None, 0
    while True:  # one message per step: the keyset walk resumes where the last one stopped
        step = await store.purge_messages_step(tenant.id, cutoff, after, 1)
        purged += step.counts["messages"]
        steps += 1
        if step.done:
            break
        after = step.after

    assert purged == 3
    assert steps >= 5  # 5 messages were created before the cutoff
    for message_id in finished:
        assert await store.get_message(tenant.id, message_id) is None
    for message_id in (leased, scheduled, recent):
        assert await store.get_message(tenant.id, message_id) is not None


async def test_a_dry_run_plan_counts_what_the_steps_then_remove(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    for _ in range(4):
        await accept(store, tenant, clock)
    jobs = await claim_all(store, clock)
    await store.finish_sends([completion(j, "sent") for j in jobs])
    clock.advance(3600)
    cutoff = ids.iso(clock.now())

    plan = await store.purge_plan(cutoff, None)
    step = await store.purge_messages_step(tenant.id, cutoff, None, 100)

    assert plan.counts["messages"] == step.counts["messages"] == 4
    assert plan.counts["events"] == step.counts["events"]
    assert plan.counts["jobs"] == step.counts["jobs"] == 4


@pytest.mark.parametrize("backend", ["sqlite"])  # the Snapshots capability: SQLite files
async def test_a_snapshot_taken_during_writes_is_consistent_and_passes_its_check(
    store: Store, tenant: Tenant, clock: FakeClock, tmp_path: Path
) -> None:
    for _ in range(50):
        await accept(store, tenant, clock)
    stop = asyncio.Event()

    async def keep_writing() -> int:
        n = 0
        while not stop.is_set() and n < 2000:
            await accept(store, tenant, clock)
            n += 1
        return n

    writer = asyncio.create_task(keep_writing())
    await asyncio.sleep(0)
    info = await store.snapshot(str(tmp_path / "copy.db"), lambda done, total: None)
    stop.set()
    await writer

    assert info.counts["messages"] >= 50
    assert info.counts["jobs"] == info.counts["messages"]  # never a message without its job
    checked = await store.inspect_snapshot(str(tmp_path / "copy.db"))
    assert checked.integrity == "ok"
    assert checked.counts == info.counts
    assert checked.schema_version == store.latest_schema_version()


@pytest.mark.parametrize("backend", ["sqlite"])  # the Snapshots capability: SQLite files
async def test_a_file_that_is_not_a_database_is_not_a_snapshot(
    store: Store, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)

    with pytest.raises(ValueError):
        await store.inspect_snapshot(str(junk))
