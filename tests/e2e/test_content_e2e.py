"""Stored templates and tracking end to end, on the real `iep serve` with a relay
to a real aiosmtpd sink and a real webhook receiver:

- a send by stored template with open and click tracking arrives with a pixel and tracked
  links; fetching them (as a mail client would) gives `opened`/`clicked` events, their
  webhooks, and engagement counts, and the click lands on the message's own URL;
- in headless Chromium, an operator writes a template in the editor and watches the live
  preview follow the typing, saves a second version, reads the diff in the history, and sends
  a test that reaches the sink.
"""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_dashboard_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    credentials,
    log_in,
    need_chromium,
)
from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until_sync
from tests.support.webhook_sink import WebhookSink

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]
PERSON = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.0"


@pytest.fixture
def server(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[ServerProcess]:
    port = free_port()
    config = write_config(
        tmp_path,
        port,
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port}},
        routing={"default_provider": "relay"},
        webhooks={"allow_private_networks": True},
        logging={"access_log": False},
    )
    with ServerProcess(config, port, tmp_path / "logs") as proc:
        yield proc


def api(server: ServerProcess) -> httpx.Client:
    key = credentials(server.stdout_text())["key"]
    return httpx.Client(
        base_url=server.base_url, headers={"x-api-key": key}, timeout=10, trust_env=False
    )


def delivered(sink: SmtpSink, message_id: str) -> Any:
    wait_until_sync(lambda: message_id in sink.by_iep_id(), timeout=30)
    return next(r for r in sink.received if r.parsed["X-IEP-Message-Id"] == message_id)


def test_a_tracked_send_by_template_reports_opens_and_clicks(
    server: ServerProcess, smtp_sink: SmtpSink, webhook_sink: WebhookSink
) -> None:
    with api(server) as client:
        hook = client.post(
            "/v1/webhooks",
            json={"url": webhook_sink.url(), "events": ["message.opened", "message.clicked"]},
        )
        assert hook.status_code == 201, hook.text
        made = client.post(
            "/v1/templates",
            json={
                "name": "Order shipped",
                "subject": "Order {{order.id}} shipped",
                "htmlBody": '<html><body><p>Hi {{name}}</p><a href="https://shop.example/o/'
                '{{order.id}}">Track it</a> <a href="mailto:help@example.com">help</a>'
                "</body></html>",
            },
        )
        assert made.status_code == 201, made.text
        sent = client.post(
            "/v1/messages",
            json={
                "to": ["ada@example.org"],
                "from": "noreply@example.com",
                "template": {"id": made.json()["id"]},
                "variables": {"name": "Ada", "order": {"id": "A-17"}},
                "strictVariables": True,
                "tracking": {"opens": True, "clicks": True},
            },
        )
        assert sent.status_code == 202, sent.text
        message_id = sent.json()["messageId"]
        received = delivered(smtp_sink, message_id)
        assert received.parsed["Subject"] == "Order A-17 shipped"
        html = received.parsed.get_body(("html",)).get_content()
        pixel = re.search(r'src="(http://[^"]+/t/o/[^"]+\.gif)"', html)
        link = re.search(r'href="(http://[^"]+/t/c/[^"]+)"', html)
        assert pixel and link, html
        assert 'href="mailto:help@example.com"' in html
        wait_until_sync(
            lambda: client.get(f"/v1/messages/{message_id}").json()["status"] == "sent",
            timeout=30,
        )

        with httpx.Client(timeout=10, trust_env=False, headers={"user-agent": PERSON}) as mua:
            gif = mua.get(pixel.group(1))
            assert gif.status_code == 200 and gif.headers["content-type"] == "image/gif"
            click = mua.get(link.group(1))
            assert click.status_code == 302
            assert click.headers["location"] == "https://shop.example/o/A-17"
            assert mua.get(link.group(1)[:-2] + "xx").status_code == 404

        events = client.get(f"/v1/messages/{message_id}").json()["events"]
        found = [(e["type"], e["data"]) for e in events if e["type"] in ("opened", "clicked")]
        assert found == [
            ("opened", {"userAgent": PERSON, "first": True}),
            (
                "clicked",
                {"userAgent": PERSON, "url": "https://shop.example/o/A-17", "unique": True},
            ),
        ]
        wait_until_sync(lambda: len(webhook_sink.requests) == 2, timeout=30)
        bodies = sorted((r.json() for r in webhook_sink.requests), key=lambda b: b["event"])
        assert [b["event"] for b in bodies] == ["message.clicked", "message.opened"]
        assert bodies[0]["data"]["url"] == "https://shop.example/o/A-17"
        assert bodies[1]["messageId"] == message_id
        totals = client.get("/v1/analytics/engagement").json()["totals"]
        assert (totals["opens"], totals["uniqueClicks"]) == (1, 1)


@pytest.mark.browser
def test_an_operator_edits_a_template_with_live_preview_history_and_a_test_send(
    server: ServerProcess, smtp_sink: SmtpSink
) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    creds = credentials(server.stdout_text())
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            log_in(page, creds)
            page.click("nav >> text=Templates")
            expect(page.locator("#templates")).to_contain_text("No templates yet")
            page.click("#new-template button[type=submit]")

            editor = page.locator("#template-editor")
            editor.locator("input[name=name]").fill("Welcome")
            editor.locator("input[name=subject]").fill("Welcome {{name}}")
            editor.locator("textarea[name=sampleVariables]").fill('{"name": "Grace"}')
            editor.locator("textarea[name=htmlBody]").fill("<h2>Hello {{name}}</h2>")
            preview = page.frame_locator("#template-preview")
            expect(preview.locator("h2")).to_have_text("Hello Grace")  # live, before saving
            expect(preview.locator("body")).to_contain_text("Welcome Grace")
            editor.locator("button[type=submit]").click()
            expect(page.locator(".flash.ok")).to_contain_text("created")

            body = page.locator("#template-editor textarea[name=htmlBody]")
            body.fill("<h2>Hello {{name}}</h2><p>Glad you are here.</p>")
            expect(preview.locator("body")).to_contain_text("Glad you are here.")
            page.locator("#template-editor button[type=submit]").click()
            expect(page.locator(".flash.ok")).to_contain_text("saved version 2")
            expect(page.locator("#history tbody tr")).to_have_count(2)
            expect(page.locator("#diff .add")).to_contain_text("Glad you are here.")
            expect(page.locator("#diff .del")).to_contain_text("<h2>Hello {{name}}</h2>")

            page.locator("#test-send input[name=to]").fill("qa@example.org")
            page.locator("#test-send button[type=submit]").click()
            expect(page.locator(".flash.ok")).to_contain_text("queued to qa@example.org")
            wait_until_sync(
                lambda: any(r.rcpt_tos == ("qa@example.org",) for r in smtp_sink.received),
                timeout=30,
            )
            mail = next(r for r in smtp_sink.received if r.rcpt_tos == ("qa@example.org",))
            assert mail.parsed["Subject"] == "Welcome Grace"
            page.click("nav >> text=Templates")
            expect(page.locator("#templates")).to_contain_text("v2")
        finally:
            browser.close()
