"""The domain page in a real browser: headless Chromium against the real `iep serve`
with a real DNS server on 127.0.0.1. The operator opens a tenant's pending domain, copies a
record with its button, checks DNS (records missing: failed), publishes the records, and sees
the status turn verified by itself (the periodic check and the page's polling)."""

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
from tests.e2e.test_dashboard_browser import screenshots as screenshot_dir
from tests.support.dns_server import DnsServer
from tests.support.procs import ServerProcess, free_port, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(150)]


@pytest.fixture
def server(tmp_path: Path, dns_server: DnsServer) -> Any:
    port = free_port()
    config = write_config(
        tmp_path,
        port,
        dns={"nameservers": [dns_server.nameserver], "timeout_seconds": 1,
             "check_interval_seconds": 1},
    )  # fmt: skip
    with ServerProcess(config, port, tmp_path / "logs") as proc:
        yield proc


def test_operator_sees_records_copies_one_and_watches_the_domain_verify(
    server: ServerProcess, tmp_path: Path, dns_server: DnsServer
) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    creds = credentials(server.stdout_text())
    auth = {"x-api-key": creds["key"]}
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as client:
        added = client.post("/v1/domains", json={"domain": "news.example.com"}, headers=auth)
        assert added.status_code == 201, added.text
        records = client.get("/v1/domains/news.example.com", headers=auth).json()["records"]

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": 1280, "height": 900},
                permissions=["clipboard-read", "clipboard-write"],
            )
            page = context.new_page()
            log_in(page, creds)
            page.click("nav >> text=Tenants")
            page.click("a:has-text('default')")
            page.click("#t-domains a:has-text('news.example.com')")

            expect(page.locator("h1")).to_have_text("news.example.com")
            status = page.locator("[data-testid=domain-status]")
            expect(status).to_have_text("pending")
            dkim_row = page.locator("tr[data-purpose=dkim]")
            expect(dkim_row).to_contain_text(
                next(r["value"] for r in records if r["purpose"] == "dkim")
            )
            dkim_value = next(r["value"] for r in records if r["purpose"] == "dkim")
            copy = dkim_row.locator("button[data-copy^=rec-value]")
            copy.click()
            expect(copy).to_have_text("Copied")
            assert page.evaluate("navigator.clipboard.readText()") == dkim_value

            page.click("button:has-text('Check DNS now')")
            expect(status).to_have_text("failed")
            expect(page.locator("[data-testid=domain-reason]")).to_contain_text("dkim missing")

            dns_server.publish(records)
            expect(status).to_have_text("verified", timeout=45_000)  # no click: it polls
            expect(page.locator("tr[data-purpose=spf]")).to_contain_text("verified")
            page.screenshot(path=str(screenshot_dir(tmp_path) / "domain.png"), full_page=True)
        finally:
            browser.close()
