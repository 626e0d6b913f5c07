"""The operator dashboard (/admin, DESIGN §4.2) over a real Runtime through AsyncTestClient:
login and its refusals, every page with the navigation, CSRF and roles on POST, retry of a
failed message (a real SMTP sink answering 554 at DATA), and the outbox preview's sanitizing.
"""

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from iep_appliance.services.tenants import create_admin_user
from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until

NAV = ("Overview", "Messages", "Outbox", "Tenants", "Queue", "SMTP &amp; APIs")
PAGES = (
    "/admin/",
    "/admin/messages",
    "/admin/outbox",
    "/admin/tenants",
    "/admin/queue",
    "/admin/connect",
)
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def appliance(tmp_path: Path, smtp_sink: SmtpSink) -> AsyncIterator[Appliance]:
    app = Appliance(tmp_path)
    app.configure(
        providers={
            "outbox": {"type": "outbox"},
            "relay": {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port},
        },
        routing={"default_provider": "outbox"},
        delivery={"retry_schedule": []},  # one attempt: a transient failure goes to the DLQ
    )
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def admin_password(appliance: Appliance) -> str:
    assert appliance.rt.first_start is not None
    return appliance.rt.first_start.admin_password


def csrf_of(html: str) -> str:
    found = TOKEN.search(html)
    assert found, html[:2000]
    return found.group(1)


async def login(client: AsyncTestClient[Any], email: str, password: str) -> Any:
    form = await client.get("/admin/login")
    assert form.status_code == 200
    data = {"email": email, "password": password, "csrf_token": csrf_of(form.text)}
    return await client.post("/admin/login", data=data, follow_redirects=False)


@pytest.fixture
async def admin(appliance: Appliance) -> AsyncTestClient[Any]:
    resp = await login(appliance.client, "admin@example.com", admin_password(appliance))
    assert resp.status_code == 303, resp.text
    return appliance.client


@pytest.fixture
async def viewer(appliance: Appliance) -> AsyncTestClient[Any]:
    await create_admin_user(
        appliance.rt.services.store, "viewer@example.com", "viewer-pass-1", "viewer"
    )
    resp = await login(appliance.client, "viewer@example.com", "viewer-pass-1")
    assert resp.status_code == 303, resp.text
    return appliance.client


async def send(appliance: Appliance, who: TenantKey, **overrides: Any) -> str:
    resp = await appliance.client.post("/v1/messages", json=message(**overrides), headers=who.auth)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["messageId"])


async def final_status(appliance: Appliance, who: TenantKey, message_id: str) -> str:
    async def done() -> str | None:
        resp = await appliance.client.get(f"/v1/messages/{message_id}", headers=who.auth)
        status = resp.json()["status"]
        return status if status in ("sent", "failed", "bounced") else None

    return str(await wait_until(done, timeout=20, message=f"{message_id} finished"))


async def failed_message(appliance: Appliance, smtp_sink: SmtpSink) -> tuple[TenantKey, str]:
    """A message of tenant `acme` in the DLQ: the relay answered 451 to its only attempt."""
    acme = await appliance.tenant("acme")
    resp = await appliance.client.patch(
        "/v1/tenant", json={"routing": {"primaryProvider": "relay"}}, headers=acme.auth
    )
    assert resp.status_code == 200, resp.text
    smtp_sink.script_rcpt("ada@example.org", "451 4.3.0 mailbox busy")
    message_id = await send(appliance, acme)
    assert await final_status(appliance, acme, message_id) == "failed"
    return acme, message_id


async def test_a_page_without_session_redirects_to_the_login_form(appliance: Appliance) -> None:
    for path in PAGES:
        resp = await appliance.client.get(path, follow_redirects=False)

        assert resp.status_code == 303, path
        assert resp.headers["location"].startswith("/admin/login?next=")


async def test_the_login_form_has_email_and_password_fields(appliance: Appliance) -> None:
    resp = await appliance.client.get("/admin/login")

    assert resp.status_code == 200
    assert 'name="email"' in resp.text and 'name="password"' in resp.text


async def test_a_wrong_password_is_refused(appliance: Appliance) -> None:
    resp = await login(appliance.client, "admin@example.com", "not-the-password")

    assert resp.status_code == 401
    assert "Wrong email or password" in resp.text
    after = await appliance.client.get("/admin/", follow_redirects=False)
    assert after.status_code == 303


async def test_first_start_credentials_sign_in_with_an_httponly_strict_cookie(
    appliance: Appliance,
) -> None:
    resp = await login(appliance.client, "admin@example.com", admin_password(appliance))

    assert resp.status_code == 303
    assert resp.headers["location"] == "/admin/"
    cookie = next(
        v for k, v in resp.headers.multi_items() if k == "set-cookie" and "iep_admin=" in v
    )
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/admin" in cookie
    assert "secure" not in cookie.lower()  # plain http here; see test_sessions.py for https


async def test_repeated_failed_logins_are_refused_for_a_while(appliance: Appliance) -> None:
    for _ in range(5):
        assert (await login(appliance.client, "admin@example.com", "wrong")).status_code == 401

    resp = await login(appliance.client, "admin@example.com", admin_password(appliance))

    assert resp.status_code == 429
    appliance.clock.advance(901)  # type: ignore[attr-defined]
    resp = await login(appliance.client, "admin@example.com", admin_password(appliance))
    assert resp.status_code == 303


async def test_a_tampered_session_cookie_is_not_a_session(
    appliance: Appliance, admin: AsyncTestClient[Any]
) -> None:
    value = admin.cookies["iep_admin"]
    admin.cookies.set("iep_admin", value[:-2] + "xx", path="/admin")

    resp = await admin.get("/admin/", follow_redirects=False)

    assert resp.status_code == 303


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_answers_200_with_the_navigation(
    admin: AsyncTestClient[Any], path: str
) -> None:
    resp = await admin.get(path)

    assert resp.status_code == 200, resp.text
    nav = resp.text[resp.text.index("<nav>") : resp.text.index("</nav>")]
    assert [label for label in NAV if f">{label}</a>" in nav] == list(NAV)


async def test_the_overview_draws_the_hourly_chart_from_the_rollups(
    appliance: Appliance, admin: AsyncTestClient[Any]
) -> None:
    acme = await appliance.tenant("acme")
    message_id = await send(appliance, acme)
    assert await final_status(appliance, acme, message_id) == "sent"

    resp = await admin.get("/admin/")

    assert '<svg class="chart"' in resp.text
    assert "1 sent</title>" in resp.text and "1 queued</title>" in resp.text


async def test_an_htmx_request_gets_only_the_partial(admin: AsyncTestClient[Any]) -> None:
    resp = await admin.get("/admin/messages", headers={"HX-Request": "true"})

    assert resp.status_code == 200
    assert "<nav>" not in resp.text and "<html" not in resp.text


async def test_messages_filter_by_tenant_status_and_recipient(
    appliance: Appliance, admin: AsyncTestClient[Any]
) -> None:
    acme = await appliance.tenant("acme")
    other = await appliance.tenant("other")
    ada = await send(appliance, acme, to=["ada@example.org"])
    bob = await send(appliance, other, to=["bob@example.org"])
    await final_status(appliance, acme, ada)
    await final_status(appliance, other, bob)

    by_tenant = (await admin.get("/admin/messages", params={"tenant": "other"})).text
    whole = {"recipient": "ADA@example.org"}  # a whole address, any case (as the API's)
    by_recipient = (await admin.get("/admin/messages", params=whole)).text
    by_status = (await admin.get("/admin/messages", params={"status": "failed"})).text

    assert bob in by_tenant and ada not in by_tenant
    assert ada in by_recipient and bob not in by_recipient
    assert ada not in by_status and "No messages match" in by_status


async def test_messages_page_through_with_a_cursor(
    appliance: Appliance, admin: AsyncTestClient[Any]
) -> None:
    acme = await appliance.tenant("acme")
    sent = [await send(appliance, acme) for _ in range(51)]

    first = (await admin.get("/admin/messages")).text
    more = re.search(r'href="(/admin/messages\?cursor=[^"]+)"', first)
    assert more, "an Older messages link"
    second = (await admin.get(more.group(1))).text

    assert sum(m in first for m in sent) == 50
    assert sum(m in second for m in sent) == 1 and "Older messages</a>" not in second
    assert 'hx-trigger="every 5s"' in first and 'hx-trigger="every 5s"' not in second


async def test_message_detail_shows_events_last_error_and_subject(
    appliance: Appliance, admin: AsyncTestClient[Any], smtp_sink: SmtpSink
) -> None:
    _acme, message_id = await failed_message(appliance, smtp_sink)

    resp = await admin.get(f"/admin/messages/{message_id}")

    assert resp.status_code == 200
    assert "451 4.3.0 mailbox busy" in resp.text
    assert "Hello Ada" in resp.text  # rendered subject
    assert "<strong>dlq</strong>" in resp.text and "<strong>queued</strong>" in resp.text
    assert f'action="/admin/messages/{message_id}/retry"' in resp.text


async def test_an_unknown_message_is_a_404_page(admin: AsyncTestClient[Any]) -> None:
    resp = await admin.get("/admin/messages/0000-nope")

    assert resp.status_code == 404
    assert "text/html" in resp.headers["content-type"]


async def test_retry_requeues_a_failed_message(
    appliance: Appliance, admin: AsyncTestClient[Any], smtp_sink: SmtpSink
) -> None:
    acme, message_id = await failed_message(appliance, smtp_sink)
    page = await admin.get(f"/admin/messages/{message_id}")

    resp = await admin.post(
        f"/admin/messages/{message_id}/retry",
        data={"csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )

    assert resp.status_code == 303
    assert resp.headers["location"] == f"/admin/messages/{message_id}?notice=retried"
    assert await final_status(appliance, acme, message_id) == "sent"  # the sink accepts now
    assert len(smtp_sink.received) == 1


async def test_the_dlq_lists_the_dead_job_and_retries_it(
    appliance: Appliance, admin: AsyncTestClient[Any], smtp_sink: SmtpSink
) -> None:
    acme, message_id = await failed_message(appliance, smtp_sink)

    queue = await admin.get("/admin/queue")
    assert f"/admin/messages/{message_id}" in queue.text
    job = re.search(r'name="job" value="(\d+)"', queue.text)
    assert job, queue.text
    resp = await admin.post(
        "/admin/queue/retry",
        data={"csrf_token": csrf_of(queue.text), "job": job.group(1)},
        follow_redirects=False,
    )

    assert resp.headers["location"].startswith("/admin/queue?notice=retried&done=1")
    assert await final_status(appliance, acme, message_id) == "sent"
    assert "The DLQ is empty" in (await admin.get("/admin/queue")).text


async def test_a_post_without_csrf_token_is_403(
    appliance: Appliance, admin: AsyncTestClient[Any], smtp_sink: SmtpSink
) -> None:
    acme, message_id = await failed_message(appliance, smtp_sink)

    missing = await admin.post(f"/admin/messages/{message_id}/retry", data={})
    wrong = await admin.post(f"/admin/messages/{message_id}/retry", data={"csrf_token": "x"})

    assert missing.status_code == 403 and wrong.status_code == 403
    detail = await appliance.client.get(f"/v1/messages/{message_id}", headers=acme.auth)
    assert detail.json()["status"] == "failed"


async def test_a_login_post_without_its_form_token_is_403(appliance: Appliance) -> None:
    data = {"email": "admin@example.com", "password": admin_password(appliance)}

    resp = await appliance.client.post("/admin/login", data=data, follow_redirects=False)

    assert resp.status_code == 403


async def test_a_viewer_reads_but_cannot_retry(
    appliance: Appliance, viewer: AsyncTestClient[Any], smtp_sink: SmtpSink
) -> None:
    acme, message_id = await failed_message(appliance, smtp_sink)
    page = await viewer.get(f"/admin/messages/{message_id}")
    assert page.status_code == 200
    assert f'action="/admin/messages/{message_id}/retry"' not in page.text

    resp = await viewer.post(
        f"/admin/messages/{message_id}/retry", data={"csrf_token": csrf_of(page.text)}
    )

    assert resp.status_code == 403
    detail = await appliance.client.get(f"/v1/messages/{message_id}", headers=acme.auth)
    assert detail.json()["status"] == "failed"


async def test_a_viewer_cannot_create_a_tenant(
    appliance: Appliance, viewer: AsyncTestClient[Any]
) -> None:
    page = await viewer.get("/admin/tenants")
    data = {"csrf_token": csrf_of(page.text), "slug": "nope", "name": "Nope", "domains": ""}

    resp = await viewer.post("/admin/tenants", data=data)

    assert resp.status_code == 403
    assert await appliance.rt.services.store.get_tenant_by_slug("nope") is None


async def test_an_admin_creates_a_tenant_and_sees_it_listed(
    appliance: Appliance, admin: AsyncTestClient[Any]
) -> None:
    page = await admin.get("/admin/tenants")
    data = {
        "csrf_token": csrf_of(page.text),
        "slug": "globex",
        "name": "Globex",
        "domains": "globex.com, mail.globex.com",
    }

    resp = await admin.post("/admin/tenants", data=data, follow_redirects=False)

    assert resp.status_code == 303
    tenant = await appliance.rt.services.store.get_tenant_by_slug("globex")
    assert tenant is not None and tenant.name == "Globex"
    assert await appliance.rt.services.store.allowed_domains(tenant.id) == {
        "globex.com",
        "mail.globex.com",
    }
    assert ">globex</a>" in (await admin.get("/admin/tenants")).text


async def test_a_bad_tenant_slug_is_shown_on_the_form(admin: AsyncTestClient[Any]) -> None:
    page = await admin.get("/admin/tenants")
    data = {"csrf_token": csrf_of(page.text), "slug": "Bad Slug", "name": "X", "domains": ""}

    resp = await admin.post("/admin/tenants", data=data)

    assert resp.status_code == 422
    assert "lower-case letters" in resp.text


async def test_outbox_preview_sanitizes_the_html_part(
    appliance: Appliance, admin: AsyncTestClient[Any]
) -> None:
    acme = await appliance.tenant("acme")
    html = '<p onclick="steal()">Hi {{name}}</p><script>alert("pwned")</script>'
    message_id = await send(appliance, acme, htmlBody=html)
    assert await final_status(appliance, acme, message_id) == "sent"

    listing = await admin.get("/admin/outbox")
    resp = await admin.get(f"/admin/outbox/{message_id}")

    assert f"/admin/outbox/{message_id}" in listing.text
    assert resp.status_code == 200
    frame = re.search(r'<iframe[^>]*sandbox=""[^>]*src="([^"]*)"', resp.text)
    assert frame, resp.text
    assert frame.group(1) == f"/admin/messages/{message_id}/preview"
    html = (await admin.get(frame.group(1))).text
    assert "Hi Ada" in html
    assert "script" not in html and "pwned" not in html and "pwned" not in resp.text
    assert "onclick" not in html
    assert "X-IEP-Message-Id" in resp.text  # the parsed headers


async def test_logout_ends_the_session(admin: AsyncTestClient[Any]) -> None:
    page = await admin.get("/admin/")

    resp = await admin.post(
        "/admin/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )

    assert resp.status_code == 303
    assert (await admin.get("/admin/", follow_redirects=False)).status_code == 303


async def test_the_stylesheet_and_htmx_are_served_locally(appliance: Appliance) -> None:
    css = await appliance.client.get("/admin/static/admin.css")
    js = await appliance.client.get("/admin/static/htmx-2.0.11.min.js")

    assert css.status_code == 200 and js.status_code == 200
    assert js.text.startswith("/* htmx 2.0.11")
