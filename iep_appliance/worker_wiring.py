"""What a worker process changes in the Runtime (issue 19, DESIGN §10.6), in one place.

- its store claims leases as `role.node_id`, and at start releases only its own (worker 0
  also the ones no current worker holds); a single process releases every lease, as before;
- with other workers on the store, rate limits count in the store (exact across processes);
- the change feed (services/changes.py): every cache-dropping call (`keys.forget`, tenant
  rules, queues, scheduled jobs, reputation holds) also tells the other processes, and a
  poller drops what they changed. The feed runs with one process too: an `iep keys revoke`
  run from the shell then reaches the server within a poll instead of the key cache's TTL.
"""

from collections.abc import Callable
from typing import Any

from iep_appliance.domain import ids
from iep_appliance.domain.ratelimit import window_starts
from iep_appliance.services.changes import ChangeFeed
from iep_appliance.worker_role import WorkerRole


def install(rt: Any, role: WorkerRole) -> ChangeFeed:
    rt.store.node_id = role.node_id
    rt.rate_limits.shared = role.shared
    feed = ChangeFeed(rt.store, rt.clock)
    keys = rt.keys
    forget_key, forget_tenant_keys = keys.forget, keys.forget_tenant
    local_tenant_changed = rt.tenant_changed
    messages_invalidate = rt.messages.invalidate

    def told(local: Callable[[str], None], kind: str) -> Callable[[str], None]:
        def both(ref: str) -> None:
            local(ref)
            feed.note(kind, ref)

        return both

    # Local effects of each kind, as the process that made the change applied them.
    def tenant_local(tenant_id: str) -> None:
        local_tenant_changed(tenant_id)
        forget_tenant_keys(tenant_id)

    feed.on("key", forget_key)
    feed.on("tenant", tenant_local)
    feed.on("tenant_rules", messages_invalidate)
    feed.on("queues", lambda tenant_id: rt._queues_changed(tenant_id))
    feed.on("jobs", lambda _ref: rt.ticker.wake())
    feed.on("reputation", lambda _ref: rt.reputation.load())
    # The calls other code makes, now also noted (instance attributes shadow the methods).
    keys.forget = told(forget_key, "key")
    keys.forget_tenant = told(forget_tenant_keys, "tenant")
    rt.tenant_changed = told(local_tenant_changed, "tenant_rules")
    rt.tenant_settings.on_change = rt.tenant_changed
    rt.domain_checks.on_verified = rt.tenant_changed
    rt.domains.on_change = told(messages_invalidate, "tenant_rules")
    rt.queues.on_change.append(lambda tenant_id: feed.note("queues", tenant_id))
    rt.scheduled_jobs.on_change.append(lambda: feed.note("jobs", ""))
    rt.reputation.on_resume.append(lambda tenant_id: feed.note("reputation", tenant_id))
    enforce = rt.reputation.enforce

    async def enforce_and_tell(tenant_ids: Any = None) -> list[str]:
        newly: list[str] = await enforce(tenant_ids)
        for tenant_id in newly:
            feed.note("reputation", tenant_id)
        return newly

    rt.reputation.enforce = enforce_and_tell
    return feed


async def release_leases(rt: Any, role: WorkerRole) -> int:
    """At start: a single process releases every lease; a worker only its own (the ones a
    killed predecessor of the same index left), worker 0 also those no current worker holds."""
    if not role.shared:
        return int(await rt.store.release_all_leases())
    assert role.node_id is not None
    orphans = role.owners() if role.runs_singletons else []
    return int(await rt.store.release_owned_leases(role.node_id, orphans))


async def singleton_chores(rt: Any, feed: ChangeFeed) -> None:
    """Worker 0's share of housekeeping: old changes, and ended rate windows (counted in the
    store when shared; a single process purges them in its flusher)."""
    await feed.purge()
    if rt.rate_limits.shared:
        starts = {k: ids.iso(v) for k, v in window_starts(rt.clock.now()).items()}
        await rt.store.add_rate_counts({}, starts)


__all__ = ["install", "release_leases", "singleton_chores"]
