"""The dashboard shows how a message arrived and how a product connects: headless
Chromium (Playwright) against the real `iep serve` with SMTP submission on. A message sent
over SMTP (smtplib) shows "SMTP" with its client address and AUTH user; one sent through the
API shows "API"; the "SMTP & APIs" page in the navigation shows the host, the ports and the
SDK lines to change for Resend and Postmark."""

import re
import smtplib
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_dashboard_browser import (
    BODY,
    CHROMIUM,
    CHROMIUM_ARGS,
    credentials,
    log_in,
    need_chromium,
    screenshots,
)
from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(120)]

MIME = (
    b"From: Product <noreply@example.com>\r\nTo: ada@example.org\r\n"
    b"Subject: Over SMTP\r\nContent-Type: text/plain\r\n\r\nHello over SMTP.\r\n"
)


def test_message_page_shows_its_origin_and_the_connect_page_its_settings(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    port, smtp_port = free_port(), free_port()
    config = write_config(
        tmp_path,
        port,
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port}},
        routing={"default_provider": "relay"},
        submission={"enabled": True, "port": smtp_port},
    )
    with ServerProcess(config, port, tmp_path / "logs") as server:
        creds = credentials(server.stdout_text())
        key, shots = creds["key"], screenshots(tmp_path)
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.login("billing-app", key)
            client.mail("noreply@example.com")
            client.rcpt("ada@example.org")
            code, reply = client.data(MIME)
        assert code == 250, reply
        smtp_id = reply.decode().rsplit(" ", 1)[-1]
        with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as api:
            resp = api.post("/v1/messages", json=BODY, headers={"x-api-key": key})
            assert resp.status_code == 202, resp.text
            api_id = resp.json()["messageId"]
        wait_until_sync(lambda: len(smtp_sink.received) == 2, timeout=30)

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                log_in(page, creds)

                page.goto(f"{server.base_url}/admin/messages/{smtp_id}")
                expect(page.locator("h1")).to_have_text("Over SMTP")
                origin = page.locator("#message-origin")
                expect(origin).to_have_text("SMTP from 127.0.0.1, AUTH user billing-app")
                page.screenshot(path=str(shots / "message-smtp.png"), full_page=True)
                page.goto(f"{server.base_url}/admin/messages/{api_id}")
                expect(page.locator("#message-origin")).to_have_text("API")

                page.click("nav >> text=SMTP & APIs")
                expect(page).to_have_url(re.compile(r"/admin/connect$"))
                expect(page.locator("h1")).to_have_text("SMTP & compatible APIs")
                settings = page.locator("#smtp-settings")
                expect(settings).to_contain_text("enabled")
                expect(settings).to_contain_text("127.0.0.1")
                expect(settings).to_contain_text(str(smtp_port))
                expect(page.locator("#django-snippet")).to_contain_text(f"EMAIL_PORT = {smtp_port}")
                expect(page.locator("#resend-snippet")).to_contain_text(
                    f'resend.api_url = "{server.base_url}/compat/resend"'
                )
                expect(page.locator("#postmark-snippet")).to_contain_text(
                    f'root_api_url="{server.base_url}"'
                )
                page.screenshot(path=str(shots / "connect.png"), full_page=True)
            finally:
                browser.close()
