"""The dashboard's Overview and Outbox over a real Runtime: counts and both charts for all
tenants or one, live polling, named queue depth, last-minute throughput, provider health with
the last error (a real SMTP sink refusing), and the outbox's raw source and .eml download."""

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from iep_appliance.domain import ids
from iep_appliance.domain.changes import NodeBeat, ProviderBeat
from tests.integration.admin.conftest import Operator, relay_appliance
from tests.integration.admin.test_messages_page import failed, relayed, status_of
from tests.integration.tenant.conftest import Appliance
from tests.integration.test_admin import final_status, send
from tests.support.smtp_sink import SmtpSink


@pytest.fixture
async def appliance(tmp_path: Path, smtp_sink: SmtpSink) -> AsyncIterator[Appliance]:
    async with relay_appliance(tmp_path, smtp_sink.port) as app:
        yield app


def stat(html: str, name: str) -> int:
    found = re.search(rf'data-stat="{name}">(\d+)<', html)
    assert found, name
    return int(found.group(1))


async def test_the_overview_counts_all_tenants_or_the_one_chosen(
    appliance: Appliance, admin: Operator
) -> None:
    acme, other = await appliance.tenant("acme"), await appliance.tenant("other")
    for who in (acme, other, other):
        await final_status(appliance, who, await send(appliance, who))

    everyone = await admin.page("/admin/")
    just_acme = await admin.page("/admin/", params={"tenant": "acme"})

    assert stat(everyone.text, "sent") == 3 and stat(just_acme.text, "sent") == 1
    assert stat(everyone.text, "throughput") == 3  # all within the last minute
    assert '<option value="acme" selected>' in just_acme.text
    assert everyone.text.count('<svg class="chart"') == 2  # 24 hours and 30 days
    assert "2026-01-01: 3 sent</title>" in everyone.text  # the day bar
    assert "00:00 UTC: 3 sent</title>" in everyone.text  # the hour bar


async def test_the_queued_card_counts_what_is_queued_now_not_what_was_accepted_today(
    appliance: Appliance, admin: Operator
) -> None:
    acme, other = await appliance.tenant("acme"), await appliance.tenant("other")
    for _ in range(2):
        await final_status(appliance, acme, await send(appliance, acme))
    paused = await appliance.client.post("/v1/queues/default/pause", headers=other.auth)
    assert paused.status_code == 200, paused.text
    waiting = await send(appliance, other)

    everyone = await admin.page("/admin/")
    just_acme = await admin.page("/admin/", params={"tenant": "acme"})

    assert await status_of(appliance, other, waiting) == "queued"
    assert stat(everyone.text, "queued") == 1  # the paused one; 3 were accepted today
    assert "now · 3 accepted today" in everyone.text
    assert stat(just_acme.text, "queued") == 0


async def test_an_unknown_tenant_on_the_overview_is_a_400(admin: Operator) -> None:
    resp = await admin.page("/admin/", params={"tenant": "nope"})

    assert resp.status_code == 400 and "no tenant" in resp.text


async def test_the_overview_polls_its_partial_every_5_seconds(admin: Operator) -> None:
    page = await admin.page("/admin/", params={"tenant": ""})
    partial = await admin.page("/admin/", headers={"HX-Request": "true"})

    assert 'hx-trigger="every 5s"' in page.text and 'hx-include="#overview-filter"' in page.text
    assert "<html" not in partial.text and '<svg class="chart"' in partial.text


async def test_the_overview_shows_named_queues_and_provider_health(
    appliance: Appliance, admin: Operator, smtp_sink: SmtpSink
) -> None:
    relay = await relayed(appliance, "acme")
    await failed(appliance, relay, smtp_sink, "ada@example.org")

    resp = await admin.page("/admin/")

    providers = resp.text[resp.text.index('class="kv providers"') :]
    assert "<th>relay</th>" in providers and "451 4.3.0 mailbox busy" in providers
    assert "<td>acme</td>\n        <td>default</td>" in resp.text  # its named queue
    assert stat(resp.text, "failed") == 1


async def test_the_overview_shows_a_failure_another_worker_saw(
    appliance: Appliance, admin: Operator
) -> None:
    """Breakers are per process: the page merges every live process's heartbeat."""
    services = appliance.rt.services
    now = services.clock.now()
    seen = ProviderBeat("outbox", "open", "connect: refused by the other worker", ids.iso(now))
    await services.store.heartbeat(
        NodeBeat("other-worker", "h", 1, "sqlite", ids.iso(now), ids.iso(now), (seen,))
    )
    stale = ids.iso(now - timedelta(minutes=5))
    gone = ProviderBeat("outbox", "open", "from a process long gone", stale)
    await services.store.heartbeat(NodeBeat("gone", "h", 2, "sqlite", stale, stale, (gone,)))

    resp = await admin.page("/admin/")

    providers = resp.text[resp.text.index('class="kv providers"') :]
    assert "<th>outbox</th>" in providers and "connect: refused by the other worker" in providers
    assert "open" in providers and "from a process long gone" not in providers


async def test_the_outbox_offers_raw_source_and_eml_download(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    message_id = await send(appliance, acme)
    await final_status(appliance, acme, message_id)

    preview = await admin.page(f"/admin/outbox/{message_id}")
    raw = await admin.page(f"/admin/outbox/{message_id}/raw")
    eml = await admin.page(f"/admin/outbox/{message_id}/eml")

    assert f"/admin/outbox/{message_id}/raw" in preview.text
    assert f"/admin/outbox/{message_id}/eml" in preview.text
    assert raw.headers["content-type"].startswith("text/plain")
    assert f"X-IEP-Message-Id: {message_id}" in raw.text
    assert eml.headers["content-type"] == "message/rfc822"
    assert eml.headers["content-disposition"] == f'attachment; filename="{message_id}.eml"'
    assert eml.content == raw.content


async def test_a_message_not_in_the_outbox_has_no_eml(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    message_id = await send(appliance, acme, scheduledAt="2026-06-01T00:00:00Z")

    resp = await admin.page(f"/admin/outbox/{message_id}/eml")

    assert resp.status_code == 404


async def test_a_message_over_the_off_loop_size_previews_like_a_small_one(
    appliance: Appliance, admin: Operator
) -> None:
    """Past OFF_LOOP_BYTES the stored MIME is parsed in a thread; the pages are the same."""
    from iep_appliance.services.dashboard_actions import OFF_LOOP_BYTES

    acme = await appliance.tenant("acme")
    filler = "<p>" + "padding text " * 40 + "</p>"
    html = "<h1>Big one</h1>" + filler * (OFF_LOOP_BYTES // len(filler) + 10)
    message_id = await send(appliance, acme, htmlBody=html)
    assert await final_status(appliance, acme, message_id) == "sent"

    detail = await admin.page(f"/admin/messages/{message_id}")
    frame = await admin.page(f"/admin/messages/{message_id}/preview")
    outbox = await admin.page(f"/admin/outbox/{message_id}")

    assert detail.status_code == frame.status_code == outbox.status_code == 200
    assert "Big one" in frame.text
    assert "as sent (outbox copy)" in detail.text
