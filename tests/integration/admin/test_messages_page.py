"""The dashboard's Messages pages over a real Runtime: the filters, the live rows partial, the
detail page (envelope, headers, attempts, attachments, sandboxed preview), Retry one or many,
Cancel a scheduled message, and every HTML a tenant controls shown escaped or sanitized.
Deliveries go to the outbox or, for failures, to a real SMTP sink scripted to refuse.
"""

import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.admin.conftest import Operator, relay_appliance
from tests.integration.tenant.conftest import Appliance, TenantKey
from tests.integration.test_admin import final_status, send
from tests.support.smtp_sink import SmtpSink

EVIL_SUBJECT = '<b id="evil">Bold</b> & <img src=x onerror="alert(1)">'
ESCAPED_SUBJECT = "&lt;b id=&#34;evil&#34;&gt;Bold&lt;/b&gt;"
EVIL_HTML = (
    '<h1>Hello {{name}}</h1><img src="https://tracker.example/p.gif" onerror="alert(1)">'
    '<img src="https://cdn.example/logo.png"><script>document.title="pwned"</script>'
)


@pytest.fixture
async def appliance(tmp_path: Path, smtp_sink: SmtpSink) -> AsyncIterator[Appliance]:
    async with relay_appliance(tmp_path, smtp_sink.port) as app:
        yield app


async def relayed(appliance: Appliance, slug: str) -> TenantKey:
    """A tenant whose messages go to the SMTP sink."""
    who = await appliance.tenant(slug)
    resp = await appliance.client.patch(
        "/v1/tenant", json={"routing": {"primaryProvider": "relay"}}, headers=who.auth
    )
    assert resp.status_code == 200, resp.text
    return who


async def failed(appliance: Appliance, who: TenantKey, sink: SmtpSink, to: str) -> str:
    sink.script_rcpt(to, "451 4.3.0 mailbox busy")
    message_id = await send(appliance, who, to=[to])
    assert await final_status(appliance, who, message_id) == "failed"
    return message_id


async def status_of(appliance: Appliance, who: TenantKey, message_id: str) -> str:
    resp = await appliance.client.get(f"/v1/messages/{message_id}", headers=who.auth)
    return str(resp.json()["status"])


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-id="([^"]+)"', html)


# ---- list, filters, live rows ----------------------------------------------------------------


async def test_filters_by_subject_queue_tag_category_and_date(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    invoice = await send(
        appliance,
        acme,
        subject="Invoice {{name}}",
        metadata={"tags": ["billing"], "category": "invoices"},
    )
    welcome = await send(appliance, acme, subject="Welcome {{name}}", metadata={"tags": ["new"]})
    await final_status(appliance, acme, invoice)
    await final_status(appliance, acme, welcome)

    by_subject = await admin.page("/admin/messages", params={"subject": "INVOICE"})
    by_tag = await admin.page("/admin/messages", params={"tag": "new"})
    by_queue = await admin.page("/admin/messages", params={"queue": "urgent"})
    today = await admin.page("/admin/messages", params={"from": "2026-01-01", "to": "2026-01-01"})
    before = await admin.page("/admin/messages", params={"to": "2025-12-31"})

    assert row_ids(by_subject.text) == [invoice]
    assert row_ids(by_tag.text) == [welcome]
    assert row_ids(by_queue.text) == []
    assert set(row_ids(today.text)) == {invoice, welcome}
    assert row_ids(before.text) == []


async def test_a_message_id_search_finds_that_message_only(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    first = await send(appliance, acme)
    await send(appliance, acme)

    resp = await admin.page("/admin/messages", params={"id": first})

    assert row_ids(resp.text) == [first]


async def test_a_bad_date_filter_is_a_400_page_naming_it(admin: Operator) -> None:
    resp = await admin.page("/admin/messages", params={"from": "yesterday"})

    assert resp.status_code == 400
    assert "from: must be an ISO 8601 date" in resp.text


async def test_the_rows_poll_with_the_filters_and_show_status_changes(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    page = await admin.page("/admin/messages", params={"tenant": "acme"})
    assert 'hx-trigger="every 5s"' in page.text and 'hx-include="#filters"' in page.text
    message_id = await send(appliance, acme)
    await final_status(appliance, acme, message_id)

    rows = await admin.page(
        "/admin/messages", params={"tenant": "acme"}, headers={"HX-Request": "true"}
    )

    assert "<html" not in rows.text and row_ids(rows.text) == [message_id]
    assert '<span class="badge sent">sent</span>' in rows.text


# ---- escaping and the preview ------------------------------------------------------------


async def test_a_subject_with_html_is_escaped_on_every_page(
    appliance: Appliance, admin: Operator, smtp_sink: SmtpSink
) -> None:
    acme = await appliance.tenant("acme")
    outboxed = await send(appliance, acme, subject=EVIL_SUBJECT)
    await final_status(appliance, acme, outboxed)
    relay = await relayed(appliance, "relay")
    smtp_sink.script_rcpt("bob@example.org", "451 4.3.0 busy")
    failing = await send(appliance, relay, subject=EVIL_SUBJECT, to=["bob@example.org"])
    assert await final_status(appliance, relay, failing) == "failed"

    pages = {
        "list": await admin.page("/admin/messages"),
        "detail": await admin.page(f"/admin/messages/{outboxed}"),
        "outbox": await admin.page("/admin/outbox"),
        "outbox preview": await admin.page(f"/admin/outbox/{outboxed}"),
        "overview": await admin.page("/admin/"),  # the recent failures
    }

    for name, resp in pages.items():
        assert resp.status_code == 200, name
        assert '<b id="evil">' not in resp.text, name
        assert "<img src=x" not in resp.text, name
        assert ESCAPED_SUBJECT in resp.text, name


async def test_the_preview_drops_scripts_and_handlers_and_blocks_remote_images(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    message_id = await send(appliance, acme, htmlBody=EVIL_HTML)
    await final_status(appliance, acme, message_id)

    detail = await admin.page(f"/admin/messages/{message_id}")
    blocked = await admin.page(f"/admin/messages/{message_id}/preview")
    allowed = await admin.page(f"/admin/messages/{message_id}/preview", params={"images": "1"})

    frame = re.search(r'<iframe class="mail" sandbox="" [^>]*src="([^"]+)"', detail.text)
    assert frame and frame.group(1) == f"/admin/messages/{message_id}/preview"
    assert "2 remote images blocked" in detail.text and "?images=1" in detail.text
    for resp in (blocked, allowed):
        assert "Hello Ada" in resp.text
        assert "<script" not in resp.text and "pwned" not in resp.text
        assert "onerror" not in resp.text
        csp = resp.headers["content-security-policy"]
        assert "sandbox" in csp and "script-src" not in csp and "default-src 'none'" in csp
        assert "frame-ancestors 'self'" in csp
    assert "tracker.example" not in blocked.text
    assert "img-src data:;" in blocked.headers["content-security-policy"]
    assert 'src="https://tracker.example/p.gif"' in allowed.text
    assert "img-src data: https:" in allowed.headers["content-security-policy"]


async def test_a_message_not_sent_yet_previews_its_template_rendered(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    message_id = await send(appliance, acme, htmlBody=EVIL_HTML, scheduledAt="2026-06-01T00:00:00Z")

    resp = await admin.page(f"/admin/messages/{message_id}/preview")

    assert "Hello Ada" in resp.text and "<script" not in resp.text and "onerror" not in resp.text


# ---- detail ----------------------------------------------------------------------------------


async def test_the_detail_shows_attempts_headers_and_a_downloadable_attachment(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    content = b"quarterly numbers\n"
    attachment = {
        "filename": "report <q1>.txt",
        "content": base64.b64encode(content).decode(),
        "contentType": "text/plain",
    }
    message_id = await send(appliance, acme, attachments=[attachment])
    await final_status(appliance, acme, message_id)

    detail = await admin.page(f"/admin/messages/{message_id}")
    link = re.search(rf'href="(/admin/messages/{message_id}/attachments/[^"]+)"', detail.text)
    assert link, detail.text
    download = await admin.page(link.group(1))

    assert "report &lt;q1&gt;.txt" in detail.text
    assert '<span class="badge sent">sent</span>' in detail.text  # the attempt's outcome
    assert "<th>X-IEP-Message-Id</th>" in detail.text
    assert download.status_code == 200 and download.content == content
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''report%20%3Cq1%3E.txt" in disposition


async def test_an_unknown_attachment_is_a_404(appliance: Appliance, admin: Operator) -> None:
    acme = await appliance.tenant("acme")
    message_id = await send(appliance, acme)

    resp = await admin.page(f"/admin/messages/{message_id}/attachments/nope")

    assert resp.status_code == 404


# ---- retry, bulk retry, cancel -----------------------------------------------------------


async def test_bulk_retry_requeues_the_selected_failed_messages(
    appliance: Appliance, admin: Operator, smtp_sink: SmtpSink
) -> None:
    relay = await relayed(appliance, "acme")
    first = await failed(appliance, relay, smtp_sink, "ada@example.org")
    second = await failed(appliance, relay, smtp_sink, "bob@example.org")
    sent = await send(appliance, relay, to=["cy@example.org"])
    assert await final_status(appliance, relay, sent) == "sent"
    page = await admin.page("/admin/messages")
    assert 'action="/admin/messages/retry"' in page.text

    resp = await admin.post("/admin/messages/retry", {"id": [first, second, sent]})

    assert resp.status_code == 303
    assert resp.headers["location"] == "/admin/messages?retried=2&refused=1"
    assert await final_status(appliance, relay, first) == "sent"
    assert await final_status(appliance, relay, second) == "sent"
    assert len(smtp_sink.received) == 3


async def test_bulk_retry_without_a_selection_is_a_400(admin: Operator) -> None:
    await admin.page("/admin/messages")

    resp = await admin.post("/admin/messages/retry", {})

    assert resp.status_code == 400 and "select at least one" in resp.text


async def test_cancel_stops_a_scheduled_message(appliance: Appliance, admin: Operator) -> None:
    acme = await appliance.tenant("acme")
    message_id = await send(appliance, acme, scheduledAt="2026-06-01T00:00:00Z")
    detail = await admin.page(f"/admin/messages/{message_id}")
    assert f'action="/admin/messages/{message_id}/cancel"' in detail.text

    resp = await admin.post(f"/admin/messages/{message_id}/cancel")

    assert resp.status_code == 303
    assert resp.headers["location"] == f"/admin/messages/{message_id}?notice=cancelled"
    assert await status_of(appliance, acme, message_id) == "cancelled"
    after = await admin.page(f"/admin/messages/{message_id}")
    assert "<strong>cancelled</strong>" in after.text and "/cancel" not in after.text


async def test_cancelling_a_sent_message_is_a_409_on_its_page(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    message_id = await send(appliance, acme)
    await final_status(appliance, acme, message_id)
    await admin.page(f"/admin/messages/{message_id}")

    resp = await admin.post(f"/admin/messages/{message_id}/cancel")

    assert resp.status_code == 409 and "cancelled" in resp.text
    assert await status_of(appliance, acme, message_id) == "sent"


# ---- viewers and CSRF ------------------------------------------------------------------------


async def posts_of(appliance: Appliance, smtp_sink: SmtpSink) -> tuple[TenantKey, dict[str, Any]]:
    relay = await relayed(appliance, "acme")
    failing = await failed(appliance, relay, smtp_sink, "ada@example.org")
    scheduled = await send(appliance, relay, scheduledAt="2026-06-01T00:00:00Z")
    return relay, {
        f"/admin/messages/{failing}/retry": (failing, "failed"),
        "/admin/messages/retry": (failing, "failed"),
        f"/admin/messages/{scheduled}/cancel": (scheduled, "scheduled"),
    }


async def test_a_viewer_cannot_retry_bulk_retry_or_cancel(
    appliance: Appliance, viewer: Operator, smtp_sink: SmtpSink
) -> None:
    relay, posts = await posts_of(appliance, smtp_sink)
    page = await viewer.page("/admin/messages")
    assert 'action="/admin/messages/retry"' not in page.text and 'type="checkbox"' not in page.text

    for path, (message_id, status) in posts.items():
        resp = await viewer.post(path, {"id": message_id})

        assert resp.status_code == 403, path
        assert await status_of(appliance, relay, message_id) == status, path


async def test_message_actions_without_the_csrf_token_are_refused(
    appliance: Appliance, admin: Operator, smtp_sink: SmtpSink
) -> None:
    relay, posts = await posts_of(appliance, smtp_sink)

    for path, (message_id, status) in posts.items():
        resp = await admin.post(path, {"id": message_id}, csrf=False)

        assert resp.status_code == 403, path
        assert await status_of(appliance, relay, message_id) == status, path
