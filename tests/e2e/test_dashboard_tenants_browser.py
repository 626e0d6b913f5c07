"""The Tenants page in a real browser: headless Debian Chromium driven by Playwright against
the real `iep serve`. Signs in with the first-start credentials, creates a tenant and an API
key in the page, reads the key shown once, sends with it (202), revokes it in the page and
sees the API refuse it (401). Saves a screenshot of the tenant page into `IEP_SCREENSHOTS`
(or test-artifacts/screenshots). Without /usr/bin/chromium it skips, except under CI=true
where it fails.
"""

import os
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_dashboard_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    credentials,
    log_in,
    screenshots,
    server,
)
from tests.support.procs import ServerProcess
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(120)]

__all__ = ["server"]  # the fixture: the real `iep serve` with its first-start credentials


def api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, trust_env=False, timeout=10)


def test_operator_creates_a_tenant_and_a_key_then_revokes_it(
    server: ServerProcess, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Debian chromium is required under CI (/usr/bin/chromium)")
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import expect, sync_playwright

    creds = credentials(server.stdout_text())
    shots = screenshots(tmp_path)
    body = {
        "to": ["ada@example.org"],
        "from": {"email": "noreply@globex.example", "name": "Globex"},
        "subject": "Hello from Globex",
        "htmlBody": "<p>Hello</p>",
    }

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm on Revoke
            log_in(page, creds)

            page.click("nav >> text=Tenants")
            page.fill("input[name=slug]", "globex")
            page.fill("input[name=name]", "Globex <b>Corp</b>")
            page.fill("input[name=domains]", "globex.example")
            page.click("button:has-text('Create tenant')")
            expect(page.locator("h1")).to_contain_text("Globex <b>Corp</b>")  # escaped
            expect(page.locator("#t-keys")).to_contain_text("No active key")

            page.fill("#new-key-form input[name=name]", "browser")
            page.click("#new-key-form button[type=submit]")
            shown = page.locator("#new-key code")
            expect(shown).to_be_visible()
            key = shown.inner_text().strip()
            assert key.startswith("iep_"), key
            page.screenshot(path=str(shots / "tenant.png"), full_page=True)

            with api(server) as client:
                sent = client.post("/v1/messages", json=body, headers={"x-api-key": key})
                assert sent.status_code == 202, sent.text

            page.reload()
            expect(page.locator("#t-keys")).not_to_contain_text(key)  # shown once only
            page.click("#t-keys tr:has-text('browser') button:has-text('Revoke')")
            expect(page.locator("#t-keys .flash.ok")).to_contain_text("Key revoked")
            expect(page.locator("#t-keys")).to_contain_text("No active key")

            with api(server) as client:
                # Every process sees a revocation within a second (one process: at once); with
                # `--workers 2` this request may reach the worker that did not revoke it.
                wait_until_sync(
                    lambda: (
                        client.get("/v1/messages", headers={"x-api-key": key}).status_code == 401
                    ),
                    timeout=2,
                    message="the revoked key still answered",
                )

            page.click("a:has-text('Tenants') >> nth=0")
            page.click("a:has-text('Dashboard users')")
            expect(page.locator("h1")).to_have_text("Dashboard users")
            expect(page.locator("table.list")).to_contain_text(creds["admin_email"])
            page.screenshot(path=str(shots / "users.png"), full_page=True)
        finally:
            browser.close()

    assert (shots / "tenant.png").stat().st_size > 10_000
