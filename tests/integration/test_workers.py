"""Two worker Runtimes in one test process, on one real SQLite file: what makes
`iep serve --workers N` correct without the processes — rate limits counted in the store,
the change feed, leases released by owner. (tests/e2e/test_workers_e2e.py runs the real
supervisor and workers.)"""

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from iep_appliance.config import Config, parse
from iep_appliance.domain.errors import RateLimited, Unauthorized
from iep_appliance.domain.models import Principal, SendRequest
from iep_appliance.runtime import Runtime
from iep_appliance.services.tenants import create_tenant
from iep_appliance.worker_role import WorkerRole
from tests.support.waiting import wait_until


def config(tmp_path: Path) -> Config:
    db = tmp_path / "data" / "iep.db"
    return parse(
        {
            "storage": {"path": str(db), "attachments_dir": str(tmp_path / "att")},
            "limits": {"max_per_minute": 5},
            "providers": {"outbox": {"type": "outbox"}},
            "routing": {"default_provider": "outbox"},
        },
        tmp_path,
    )


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Runtime, Runtime]]:
    cfg = config(tmp_path)
    one = Runtime(cfg, deliver=False, role=WorkerRole(0, 2))
    await one.start()
    two = Runtime(cfg, deliver=False, role=WorkerRole(1, 2))
    await two.start()
    try:
        yield one, two
    finally:
        await two.stop()
        await one.stop()


def test_roles() -> None:
    assert WorkerRole().node_id is None and WorkerRole().runs_singletons
    assert WorkerRole(1, 2).node_id == "w1" and not WorkerRole(1, 2).runs_singletons
    assert WorkerRole.from_env({"IEP_WORKER": "1/3"}) == WorkerRole(1, 3)
    assert WorkerRole.from_env({}) is None
    with pytest.raises(ValueError):
        WorkerRole.from_env({"IEP_WORKER": "3/3"})


async def test_a_rate_limit_is_exact_across_two_workers(pair: tuple[Runtime, Runtime]) -> None:
    one, two = pair
    tenant = await create_tenant(one.services.store, "acme", "Acme", ["acme.com"])
    who = Principal(tenant_id=tenant.id, key_id="k", scopes=frozenset(), sandbox=False)
    remaining = []
    for rt in (one, two, one, two, one):
        remaining.append((await rt.services.rate_limits.check(who, 1))["X-RateLimit-Remaining"])
    assert remaining == ["4", "3", "2", "1", "0"]
    for rt in (one, two):
        with pytest.raises(RateLimited):
            await rt.services.rate_limits.check(who, 1)
    two.services.rate_limits.release(who, 2)  # given back by one worker: usable by the other
    await two.services.rate_limits.flush()
    assert (await one.services.rate_limits.check(who, 2))["X-RateLimit-Remaining"] == "0"


async def test_a_key_revoked_in_one_worker_is_refused_by_the_other_after_a_poll(
    pair: tuple[Runtime, Runtime],
) -> None:
    one, two = pair
    tenant = await create_tenant(one.services.store, "acme", "Acme", ["acme.com"])
    extra = await one.services.keys.create(tenant.id, ["send"], "x")
    assert (
        await two.services.keys.authenticate(extra.key)
    ).key_id == extra.record.id  # cached in two
    await one.services.keys.revoke(tenant.id, extra.record.id)
    await one.services.changes.flush()
    assert (
        await two.services.keys.authenticate(extra.key)
    ).key_id == extra.record.id  # not polled yet
    assert await two.services.changes.poll() >= 1
    with pytest.raises(Unauthorized):
        await two.services.keys.authenticate(extra.key)


async def test_a_worker_releases_only_its_own_leases(pair: tuple[Runtime, Runtime]) -> None:
    one, two = pair
    tenant = await create_tenant(one.services.store, "acme", "Acme", ["acme.com"])
    made = await one.services.keys.create(tenant.id, ["send"], "x")
    principal = await one.services.keys.authenticate(made.key)
    body = {"to": ["a@acme.com"], "from": "n@acme.com", "subject": "s", "textBody": "t"}
    for _ in range(4):
        await one.services.messages.accept(principal, msgspec.convert(body, SendRequest))
    now = one.services.clock.now()
    a = await one.services.store.claim_due(now, 2, timedelta(minutes=5))
    b = await two.services.store.claim_due(now, 2, timedelta(minutes=5))
    assert len(a) == 2 and len(b) == 2 and not {j.id for j in a} & {j.id for j in b}
    assert (
        await two.services.store.release_owned_leases("w1", []) == 2
    )  # w1 restarted: its own only
    again = await one.services.store.claim_due(now, 10, timedelta(minutes=5))
    assert {j.id for j in again} == {j.id for j in b}


async def test_only_the_first_worker_runs_the_singletons_and_ready_names_it(
    pair: tuple[Runtime, Runtime],
) -> None:
    one, two = pair
    await wait_until(lambda: one.services.health.singletons)
    report = await one.services.health.readiness()
    assert report["node"] == "w0" and report["backend"] == "sqlite"
    assert report["singletons"] is True and one.services.housekeeping.singletons
    other = await two.services.health.readiness()
    assert other["node"] == "w1" and other["singletons"] is False
    assert not two.services.housekeeping.singletons


def test_a_cluster_role_owns_leases_by_node_name() -> None:
    assert WorkerRole(node="n1", cluster=True).node_id == "n1"
    assert WorkerRole(1, 2, node="n1", cluster=True).node_id == "n1/w1"
    assert WorkerRole(0, 2, node="n1", cluster=True).owners() == ["n1/w0", "n1/w1"]
