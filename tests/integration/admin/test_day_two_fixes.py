"""Dashboard day-two fixes over a real Runtime: a favicon, the Users page in the admins'
navigation, the key Rotate form's 3600 s grace, "Headers as sent" for a message sent through
a relay, and "Retry selected" coming back to the filtered list."""

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.admin.conftest import Operator, relay_appliance
from tests.integration.admin.test_messages_page import failed, relayed
from tests.integration.tenant.conftest import Appliance
from tests.integration.test_admin import final_status, send
from tests.support.smtp_sink import SmtpSink


@pytest.fixture
async def appliance(tmp_path: Path, smtp_sink: SmtpSink) -> AsyncIterator[Appliance]:
    async with relay_appliance(tmp_path, smtp_sink.port) as app:
        yield app


async def test_the_favicon_is_served_and_linked_from_every_page(admin: Operator) -> None:
    icon = await admin.client.get("/favicon.ico")
    page = await admin.page("/admin/")

    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg")
    assert '<link rel="icon" href="/admin/static/favicon.svg"' in page.text
    assert (await admin.client.get("/admin/static/favicon.svg")).status_code == 200


async def test_users_is_in_the_navigation_of_admins_only(admin: Operator, viewer: Operator) -> None:
    as_admin = await admin.page("/admin/users")
    as_viewer = await viewer.page("/admin/")

    nav = as_admin.text[as_admin.text.index("<nav>") : as_admin.text.index("</nav>")]
    assert '<a href="/admin/users" class="active" aria-current="page">Users</a>' in nav
    assert 'href="/admin/users"' not in as_viewer.text.split("</nav>")[0]


async def test_the_rotate_form_defaults_to_an_hour_of_grace_and_keeps_the_old_key(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    page = await admin.page(f"/admin/tenants/{acme.tenant_id}")
    key_id = re.search(r'data-key-id="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]

    assert 'name="graceSeconds" value="3600"' in page.text
    assert "3600 s = 1 hour" in page.text
    rotated = await admin.post(
        f"/admin/tenants/{acme.tenant_id}/keys/{key_id}/rotate", {}, htmx=True
    )

    assert rotated.status_code == 200, rotated.text
    assert "keeps working for 3600 s" in rotated.text
    old_still_works = await appliance.client.get("/v1/messages", headers=acme.auth)
    assert old_still_works.status_code == 200


async def test_a_message_sent_through_a_relay_shows_headers_as_sent(
    appliance: Appliance, admin: Operator
) -> None:
    relay = await relayed(appliance, "acme")
    message_id = await send(appliance, relay)
    assert await final_status(appliance, relay, message_id) == "sent"

    detail = await admin.page(f"/admin/messages/{message_id}")

    assert "as they will be built" not in detail.text
    assert re.search(r"Headers \(\d+, as sent\)", detail.text)


async def test_retry_selected_comes_back_to_the_filtered_list(
    appliance: Appliance, admin: Operator, smtp_sink: SmtpSink
) -> None:
    relay = await relayed(appliance, "acme")
    message_id = await failed(appliance, relay, smtp_sink, "ada@example.org")
    filtered = "/admin/messages?status=failed&tenant=acme"
    await admin.page(filtered)

    by_referer = await admin.client.post(
        "/admin/messages/retry",
        data={"id": [message_id], "csrf_token": admin.csrf},
        headers={"referer": f"http://testserver{filtered}"},
        follow_redirects=False,
    )
    by_form = await admin.post(
        "/admin/messages/retry", {"id": [message_id], "next": filtered + "&bogus=1"}
    )

    for resp in (by_referer, by_form):
        assert resp.status_code == 303
        target = urlsplit(resp.headers["location"])
        query = parse_qs(target.query)
        assert target.path == "/admin/messages"
        assert query["status"] == ["failed"] and query["tenant"] == ["acme"]
        assert "bogus" not in query
    assert parse_qs(urlsplit(by_referer.headers["location"]).query)["retried"] == ["1"]
