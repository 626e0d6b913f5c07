"""The named queues and recurring jobs cards: a queue listed with its depth is paused,
resumed and drained (a draining queue then refuses sends, as the API defines); a recurring
job is paused, resumed and deleted."""

from iep_appliance.domain.models import QueueCreate
from tests.integration.admin.conftest import Operator
from tests.integration.tenant.conftest import Appliance, message


async def test_a_queue_is_listed_with_its_depth_and_paused_resumed_drained(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    queue = await appliance.rt.services.queues.create(acme.tenant_id, QueueCreate(name="bulk"))
    base = f"/admin/tenants/{acme.tenant_id}/queues/{queue.id}"
    page = await admin.page(f"/admin/tenants/{acme.tenant_id}")
    assert ">bulk<" in page.text and ">default<" in page.text

    paused = await admin.post(f"{base}/pause", htmx=True)
    assert paused.status_code == 200 and "Queue paused." in paused.text
    assert (await appliance.rt.services.queues.get(acme.tenant_id, queue.id)).state == "paused"
    queued = await appliance.client.post(
        "/v1/messages", json=message(queue="bulk"), headers=acme.auth
    )
    assert queued.status_code == 202, queued.text
    depth = await admin.page(f"/admin/tenants/{acme.tenant_id}")
    _q, stats, _age = await appliance.rt.services.queues.stats(acme.tenant_id, queue.id)
    assert sum(stats.depth.values()) == 1
    assert depth.status_code == 200 and '<td class="num">1</td>' in depth.text

    await admin.post(f"{base}/resume")
    assert (await appliance.rt.services.queues.get(acme.tenant_id, queue.id)).state == "active"
    drained = await admin.post(f"{base}/drain")
    assert drained.status_code == 303
    assert (await appliance.rt.services.queues.get(acme.tenant_id, queue.id)).state == "draining"


async def test_an_unknown_queue_action_is_a_404(appliance: Appliance, admin: Operator) -> None:
    acme = await appliance.tenant("acme")
    await admin.page(f"/admin/tenants/{acme.tenant_id}")

    resp = await admin.post(f"/admin/tenants/{acme.tenant_id}/queues/q1/explode")

    assert resp.status_code == 404


async def test_a_recurring_job_is_paused_resumed_and_deleted(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    created = await appliance.client.post(
        "/v1/scheduled-jobs",
        json={"name": "digest", "cron": "0 8 * * *", "message": message()},
        headers=acme.auth,
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    base = f"/admin/tenants/{acme.tenant_id}/jobs/{job_id}"
    page = await admin.page(f"/admin/tenants/{acme.tenant_id}")
    assert ">digest<" in page.text

    paused = await admin.post(f"{base}/pause", htmx=True)
    assert paused.status_code == 200 and "paused" in paused.text
    job = await appliance.rt.services.scheduled_jobs.get(acme.tenant_id, job_id)
    assert not job.active and job.next_run_at is None
    await admin.post(f"{base}/resume")
    job = await appliance.rt.services.scheduled_jobs.get(acme.tenant_id, job_id)
    assert job.active and job.next_run_at is not None

    deleted = await admin.post(f"{base}/delete")

    assert deleted.status_code == 303
    gone = await appliance.client.get(f"/v1/scheduled-jobs/{job_id}", headers=acme.auth)
    assert gone.status_code == 404
