"""The dashboard's day-two fixes in a real browser (headless Debian Chromium, Playwright) against
the real `iep serve` with a relay to a real SMTP sink: the page loads no missing resource
(favicon included), *Users* is in an admin's navigation, and *Retry selected* on a list
filtered through htmx (the filter URL pushed, no reload) comes back to that filtered list.
"""

import re
from collections.abc import Iterator
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
    wait_for_status,
)
from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.smtp_sink import SmtpSink

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture
def relay_server(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[ServerProcess]:
    port = free_port()
    config = write_config(
        tmp_path,
        port,
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port}},
        delivery={"retry_schedule": []},
    )
    with ServerProcess(config, port, tmp_path / "logs") as proc:
        yield proc


def test_retry_selected_on_a_filtered_list_comes_back_filtered_and_nothing_is_missing(
    relay_server: ServerProcess, smtp_sink: SmtpSink
) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    server = relay_server
    creds = credentials(server.stdout_text())
    key = creds["key"]
    auth = {"x-api-key": key}
    api = httpx.Client(base_url=server.base_url, trust_env=False, timeout=10)
    with api:
        routing = {"routing": {"primaryProvider": "relay"}}
        assert api.patch("/v1/tenant", json=routing, headers=auth).status_code == 200
        smtp_sink.script_data("554 5.6.0 content rejected")
        failed_id = api.post("/v1/messages", json=BODY, headers=auth).json()["messageId"]
        wait_for_status(api, key, failed_id, "failed")
        sent_id = api.post("/v1/messages", json=BODY, headers=auth).json()["messageId"]
        wait_for_status(api, key, sent_id, "sent")

    missing: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
            log_in(page, creds)
            expect(page.locator("nav a[href='/admin/users']")).to_have_text("Users")

            page.click("nav >> text=Messages")
            page.evaluate("window.__sameDocument = true")
            page.select_option("select[name=status]", "failed")
            expect(page).to_have_url(re.compile(r"status=failed"))
            expect(page.locator(f"#message-rows tr[data-id='{sent_id}']")).to_have_count(0)
            assert page.evaluate("window.__sameDocument") is True  # filtered by htmx
            page.locator(f"#pick-{failed_id}").check()
            page.click("button:has-text('Retry selected')")

            expect(page.locator(".flash.ok")).to_contain_text("Queued again: 1")
            expect(page).to_have_url(re.compile(r"/admin/messages\?.*status=failed"))
            expect(page.locator("select[name=status]")).to_have_value("failed")
            expect(page.locator(f"#message-rows tr[data-id='{sent_id}']")).to_have_count(0)
            icon = page.request.get(f"{server.base_url}/favicon.ico")
            assert icon.status == 200
        finally:
            browser.close()

    assert missing == [], f"404s while browsing: {missing}"
