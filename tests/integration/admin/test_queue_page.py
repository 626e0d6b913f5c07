"""The dashboard's Queue page over a real Runtime: the DLQ (retry or discard, one or the
selected ones), the jobs waiting for a later time with their next attempt times, and the
refusals (viewer, missing CSRF token) that leave the DLQ as it was. Dead jobs come from a
real SMTP sink answering 451 to the only attempt."""

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.admin.conftest import Operator, relay_appliance
from tests.integration.admin.test_messages_page import failed, relayed, status_of
from tests.integration.tenant.conftest import Appliance, TenantKey
from tests.integration.test_admin import final_status, send
from tests.support.smtp_sink import SmtpSink


@pytest.fixture
async def appliance(tmp_path: Path, smtp_sink: SmtpSink) -> AsyncIterator[Appliance]:
    async with relay_appliance(tmp_path, smtp_sink.port) as app:
        yield app


async def dead_jobs(operator: Operator) -> dict[str, str]:
    """Message id → job number of each row of the DLQ."""
    page = await operator.page("/admin/queue")
    rows = re.findall(
        r'name="job" value="(\d+)" form="dlq".*?href="/admin/messages/([^"]+)"', page.text, re.S
    )
    return {message_id: job for job, message_id in rows}


async def two_dead(appliance: Appliance, sink: SmtpSink) -> tuple[TenantKey, str, str]:
    relay = await relayed(appliance, "acme")
    first = await failed(appliance, relay, sink, "ada@example.org")
    second = await failed(appliance, relay, sink, "bob@example.org")
    return relay, first, second


async def test_bulk_retry_of_dead_jobs_sends_their_messages_again(
    appliance: Appliance, admin: Operator, smtp_sink: SmtpSink
) -> None:
    relay, first, second = await two_dead(appliance, smtp_sink)
    jobs = await dead_jobs(admin)

    resp = await admin.post("/admin/queue/retry", {"job": [jobs[first], jobs[second]]})

    assert resp.headers["location"] == "/admin/queue?notice=retried&done=2&refused=0"
    assert await final_status(appliance, relay, first) == "sent"
    assert await final_status(appliance, relay, second) == "sent"
    assert await dead_jobs(admin) == {}


async def test_discard_takes_dead_jobs_out_of_the_dlq_and_leaves_the_messages_failed(
    appliance: Appliance, admin: Operator, smtp_sink: SmtpSink
) -> None:
    relay, first, second = await two_dead(appliance, smtp_sink)
    jobs = await dead_jobs(admin)

    one = await admin.post("/admin/queue/discard", {"job": jobs[first]})
    assert one.headers["location"] == "/admin/queue?notice=discarded&done=1&refused=0"
    assert set(await dead_jobs(admin)) == {second}
    both = await admin.post("/admin/queue/discard", {"job": [jobs[first], jobs[second]]})

    assert both.headers["location"] == "/admin/queue?notice=discarded&done=1&refused=0"
    assert await dead_jobs(admin) == {}
    assert "The DLQ is empty" in (await admin.page("/admin/queue")).text
    assert await status_of(appliance, relay, first) == "failed"
    assert await status_of(appliance, relay, second) == "failed"


async def test_a_discarded_message_can_still_be_retried_from_its_page(
    appliance: Appliance, admin: Operator, smtp_sink: SmtpSink
) -> None:
    relay, first, _second = await two_dead(appliance, smtp_sink)
    await admin.post("/admin/queue/discard", {"job": (await dead_jobs(admin))[first]})
    await admin.page(f"/admin/messages/{first}")

    resp = await admin.post(f"/admin/messages/{first}/retry")

    assert resp.status_code == 303
    assert await final_status(appliance, relay, first) == "sent"


async def test_scheduled_jobs_are_listed_with_their_next_attempt_time(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    message_id = await send(
        appliance, acme, subject="Later <b>{{name}}</b>", scheduledAt="2026-03-01T09:30:00Z"
    )

    page = await admin.page("/admin/queue")

    waiting = page.text[page.text.index('id="waiting-rows"') :]
    assert f'href="/admin/messages/{message_id}"' in waiting
    assert "2026-03-01 09:30:00" in waiting and "scheduled" in waiting
    assert "Later &lt;b&gt;Ada&lt;/b&gt;" not in waiting  # not rendered before it is sent
    assert "Later &lt;b&gt;{{name}}&lt;/b&gt;" in waiting


async def test_a_viewer_cannot_retry_or_discard_dead_jobs(
    appliance: Appliance, admin: Operator, viewer: Operator, smtp_sink: SmtpSink
) -> None:
    relay, first, _second = await two_dead(appliance, smtp_sink)
    jobs = await dead_jobs(admin)
    page = await viewer.page("/admin/queue")
    assert 'action="/admin/queue/retry"' not in page.text

    for path in ("/admin/queue/retry", "/admin/queue/discard"):
        resp = await viewer.post(path, {"job": jobs[first]})

        assert resp.status_code == 403, path
    assert await dead_jobs(admin) == jobs
    assert await status_of(appliance, relay, first) == "failed"


async def test_dlq_actions_without_the_csrf_token_are_refused(
    appliance: Appliance, admin: Operator, smtp_sink: SmtpSink
) -> None:
    _relay, first, _second = await two_dead(appliance, smtp_sink)
    jobs = await dead_jobs(admin)

    for path in ("/admin/queue/retry", "/admin/queue/discard"):
        resp = await admin.post(path, {"job": jobs[first]}, csrf=False)

        assert resp.status_code == 403, path
    assert await dead_jobs(admin) == jobs


async def test_a_job_number_that_is_not_a_number_is_a_400(admin: Operator) -> None:
    await admin.page("/admin/queue")

    resp = await admin.post("/admin/queue/discard", {"job": "1; drop"})

    assert resp.status_code == 400
