"""Store conformance for templates and tracking, over every backend (the `store` fixture of
conftest.py): versions are immutable and numbered by the store, another tenant's template
reads as missing, an engagement hit records its event and webhook job in one commit, and
only a person's first hit counts as first."""

import pytest

from iep_appliance.clock import FakeClock
from iep_appliance.domain import ids
from iep_appliance.domain.models import Tenant
from iep_appliance.domain.templates import TemplateBody, version_of
from iep_appliance.domain.tracking import EngagementHit
from iep_appliance.store.base import Store
from tests.contract.test_store import accept, claim_all
from tests.support.endpoints import endpoint_record


def draft(clock: FakeClock, tenant: Tenant, subject: str = "Hi {{name}}", template_id: str = ""):
    body = TemplateBody(name="Welcome", subject=subject, html_body="<p>{{name}}</p>")
    return version_of(body, template_id or clock.new_id(), tenant.id, 1, ids.iso(clock.now()))


async def test_a_template_starts_at_version_1_and_each_update_adds_one(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    first = await store.create_template(draft(clock, tenant))
    assert first.version == 1
    clock.advance(5)
    second = await store.add_template_version(draft(clock, tenant, "v2 {{x}}", first.id))
    third = await store.add_template_version(draft(clock, tenant, "v3", first.id))
    assert second is not None and third is not None
    assert (second.version, third.version) == (2, 3)

    latest = await store.get_template(tenant.id, first.id)
    assert latest is not None and latest.subject == "v3" and latest.version == 3
    assert latest.template_created_at == first.created_at
    old = await store.get_template(tenant.id, first.id, 2)
    assert old is not None and old.subject == "v2 {{x}}" and old.variables == ("name", "x")
    assert [v.version for v in await store.list_template_versions(tenant.id, first.id)] == [
        3,
        2,
        1,
    ]
    assert await store.get_template(tenant.id, first.id, 4) is None


async def test_another_tenants_template_reads_as_missing(
    store: Store, tenant: Tenant, other: Tenant, clock: FakeClock
) -> None:
    mine = await store.create_template(draft(clock, tenant))
    assert await store.get_template(other.id, mine.id) is None
    assert await store.list_template_versions(other.id, mine.id) == []
    assert await store.list_templates(other.id, 10, None) == []
    theirs = draft(clock, other, template_id=mine.id)
    assert await store.add_template_version(theirs) is None
    assert not await store.delete_template(other.id, mine.id)
    assert await store.get_template(tenant.id, mine.id) is not None


async def test_templates_list_their_latest_versions_in_pages(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    made = []
    for _ in range(3):
        made.append(await store.create_template(draft(clock, tenant)))
        clock.advance(1)
    await store.add_template_version(draft(clock, tenant, "newer", made[0].id))
    page = await store.list_templates(tenant.id, 2, None)
    assert [(v.id, v.version) for v in page] == [(made[0].id, 2), (made[1].id, 1)]
    rest = await store.list_templates(tenant.id, 2, (page[-1].template_created_at, page[-1].id))
    assert [v.id for v in rest] == [made[2].id]


async def test_deleting_a_template_removes_every_version(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    t = await store.create_template(draft(clock, tenant))
    await store.add_template_version(draft(clock, tenant, "v2", t.id))
    assert await store.delete_template(tenant.id, t.id)
    assert await store.get_template(tenant.id, t.id, 1) is None
    assert not await store.delete_template(tenant.id, t.id)


async def test_a_stored_version_cannot_be_changed(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    t = await store.create_template(draft(clock, tenant))
    update = "UPDATE template_versions SET subject = 'x' WHERE template_id = ?"
    db = store.db  # type: ignore[attr-defined]  # the backend's own database, below the verbs
    with pytest.raises(Exception, match="immutable"):
        await db.write(lambda c: c.execute(update, (t.id,)))
    found = await store.get_template(tenant.id, t.id, 1)
    assert found is not None and found.subject == "Hi {{name}}"


def hit(tenant: Tenant, message_id: str, kind: str, bot: str | None = None, url: str | None = None):
    return EngagementHit(
        tenant_id=tenant.id, message_id=message_id, kind=kind, user_agent="UA", bot=bot, url=url
    )


async def _endpoint(store: Store, tenant: Tenant, clock: FakeClock) -> None:
    now = ids.iso(clock.now())
    await store.create_webhook(
        endpoint_record(
            clock.new_id(), tenant.id, events=("message.opened", "message.clicked"), now=now
        )
    )


async def test_only_a_persons_first_open_and_first_click_per_url_are_first(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, tenant, clock, tracking=3)
    assert not await store.record_engagement(hit(tenant, message_id, "open", bot="gmail"))
    assert await store.record_engagement(hit(tenant, message_id, "open"))
    assert not await store.record_engagement(hit(tenant, message_id, "open"))
    assert await store.record_engagement(hit(tenant, message_id, "click", url="https://a/"))
    assert not await store.record_engagement(hit(tenant, message_id, "click", url="https://a/"))
    assert await store.record_engagement(hit(tenant, message_id, "click", url="https://b/"))

    found = await store.get_message(tenant.id, message_id)
    assert found is not None and found.tracking == 3
    events = [(e.type, e.data) for e in found.events if e.type in ("opened", "clicked")]
    assert events[0] == ("opened", {"userAgent": "UA", "first": False, "bot": "gmail"})
    assert events[1] == ("opened", {"userAgent": "UA", "first": True})
    assert events[3] == ("clicked", {"userAgent": "UA", "url": "https://a/", "unique": True})
    assert [d.get("unique") for t, d in events if t == "clicked"] == [True, False, True]


async def test_an_engagement_hit_queues_its_webhook_in_the_same_commit(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    await _endpoint(store, tenant, clock)
    message_id = await accept(store, tenant, clock, tracking=1)
    await claim_all(store, clock)  # the send job
    await store.record_engagement(hit(tenant, message_id, "open"))
    jobs = await claim_all(store, clock)
    assert [j.kind for j in jobs] == ["webhook"]
    assert '"message.opened"' in (jobs[0].payload or "")


async def test_engagement_stats_count_hits_first_hits_and_bots_by_bucket(
    store: Store, tenant: Tenant, other: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, tenant, clock, tracking=3)
    start = ids.iso(clock.now())
    await store.record_engagement(hit(tenant, message_id, "open", bot="apple_mail_privacy"))
    await store.record_engagement(hit(tenant, message_id, "open"))
    await store.record_engagement(hit(tenant, message_id, "click", url="https://a/"))
    clock.advance(3600)
    end = ids.iso(clock.now())
    await store.record_engagement(hit(tenant, message_id, "open"))  # at `end`: excluded

    rows = await store.engagement_stats(tenant.id, start, end, 13)
    assert sorted((r.kind, r.hits, r.first, r.bots) for r in rows) == [
        ("click", 1, 1, 0),
        ("open", 2, 1, 1),
    ]
    assert await store.engagement_stats(other.id, start, end, 13) == []


async def test_a_tracked_message_is_found_by_id_alone(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    message_id = await accept(store, tenant, clock, tracking=2, template_id="t", template_version=4)
    found = await store.tracked_message(message_id)
    assert found is not None and found.tenant_id == tenant.id
    assert (found.tracking, found.template_id, found.template_version) == (2, "t", 4)
    assert await store.tracked_message(clock.new_id()) is None


async def test_purging_a_message_purges_its_engagement(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    from tests.contract.test_store import completion

    message_id = await accept(store, tenant, clock, tracking=1)
    [job] = await claim_all(store, clock)
    await store.finish_sends([completion(job, "sent")])
    start = ids.iso(clock.now())
    await store.record_engagement(hit(tenant, message_id, "open"))
    clock.advance(3600)
    cutoff = ids.iso(clock.now())
    step = await store.purge_messages_step(tenant.id, cutoff, None, 100)
    assert step.counts["messages"] == 1
    assert await store.engagement_stats(tenant.id, start, cutoff, 13) == []
