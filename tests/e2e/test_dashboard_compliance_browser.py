"""Issue 18 in a real browser (headless Debian Chromium, Playwright, the real `iep serve`):
a failed sign-in and the sign-in are in the audit log; the operator gives a key an IP
allowlist on the tenant's key list (a bad CIDR is refused naming the field), the API then
refuses the key from 127.0.0.1 with a 403 naming the address, clearing it lets it in again;
on the tenant's Data protection page a malformed address is refused and a real one erased
(its message is gone, the request reaches `done`); the Audit log page shows those changes
with filters, and a bad range is a 400 with the reason.
"""

import os
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_dashboard_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    credentials,
    screenshots,
    server,
)
from tests.support.procs import ServerProcess
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(120)]

__all__ = ["server"]


def answered(client: httpx.Client, headers: dict[str, str], status: int) -> httpx.Response | None:
    resp = client.get("/v1/messages", headers=headers)
    return resp if resp.status_code == status else None


def test_allowlist_on_the_key_list_and_the_audit_log_page(
    server: ServerProcess, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Debian chromium is required under CI (/usr/bin/chromium)")
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import expect, sync_playwright

    creds = credentials(server.stdout_text())
    shots = screenshots(tmp_path)
    client = httpx.Client(base_url=server.base_url, trust_env=False, timeout=10)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(creds["dashboard_url"])
            page.fill("input[name=email]", creds["admin_email"])
            page.fill("input[name=password]", "not the password")
            page.click("button[type=submit]")
            expect(page.locator(".flash.error, .error")).to_contain_text("Wrong email")
            page.fill("input[name=email]", creds["admin_email"])
            page.fill("input[name=password]", creds["admin_password"])
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Overview")

            page.click("nav >> text=Tenants")
            page.fill("input[name=slug]", "initech")
            page.fill("input[name=name]", "Initech")
            page.fill("input[name=domains]", "initech.example")
            page.click("button:has-text('Create tenant')")
            page.fill("#new-key-form input[name=name]", "office")
            page.click("#new-key-form button[type=submit]")
            key = page.locator("#new-key code").inner_text().strip()
            headers = {"x-api-key": key}
            assert client.get("/v1/messages", headers=headers).status_code == 200

            row = page.locator("#t-keys tr:has-text('office')")
            row.locator("input[name=ipAllowlist]").fill("10.0.0.0/8, 300.0.0.0/8")
            row.locator("button:has-text('Save')").click()
            expect(page.locator("#t-keys")).to_contain_text("ipAllowlist[1]")
            row = page.locator("#t-keys tr:has-text('office')")
            row.locator("input[name=ipAllowlist]").fill("10.0.0.0/8, 2001:db8::/32")
            row.locator("button:has-text('Save')").click()
            expect(page.locator("#t-keys .flash.ok")).to_contain_text("IP allowlist saved")
            saved = page.locator("#t-keys tr:has-text('office') input[name=ipAllowlist]")
            expect(saved).to_have_value("10.0.0.0/8, 2001:db8::/32")
            # Every process sees a key's change within a second (one process: at once).
            refused = wait_until_sync(
                lambda: answered(client, headers, 403), timeout=2, message="refused"
            )
            assert refused.json()["clientAddress"] == "127.0.0.1"
            page.screenshot(path=str(shots / "key-allowlist.png"), full_page=True)

            saved.fill("")
            page.locator("#t-keys tr:has-text('office') button:has-text('Save')").click()
            expect(page.locator("#t-keys .flash.ok")).to_contain_text("any address")
            wait_until_sync(lambda: answered(client, headers, 200), timeout=2, message="allowed")

            body = {
                "to": ["lin@example.org"],
                "from": {"email": "noreply@initech.example"},
                "subject": "For Lin",
                "htmlBody": "<p>Hello</p>",
            }
            sent = client.post("/v1/messages", json=body, headers=headers)
            assert sent.status_code == 202, sent.text
            page.goto(f"{server.base_url}/admin/tenants")
            page.click("a:has-text('initech') >> nth=0")
            page.click("#gdpr-link")
            expect(page.locator("h1")).to_contain_text("Data protection")
            page.fill("#gdpr-erase input[name=email]", "lin@@example")
            page.click("#gdpr-erase button[type=submit]")
            expect(page.locator(".flash.error")).to_contain_text("not an email address")
            page.fill("#gdpr-erase input[name=email]", "lin@example.org")
            page.click("#gdpr-erase button[type=submit]")
            expect(page.locator(".flash.ok")).to_contain_text("Erased")
            for _ in range(50):  # the compaction finishes in the background
                if "done" in page.locator("#gdpr-requests").inner_text():
                    break
                page.reload()
            expect(page.locator("#gdpr-requests")).to_contain_text("messages 1")
            expect(page.locator("#gdpr-requests")).to_contain_text("done")
            page.screenshot(path=str(shots / "gdpr.png"), full_page=True)
            gone = client.get(f"/v1/messages/{sent.json()['messageId']}", headers=headers)
            assert gone.status_code == 404

            page.click("nav >> text=Audit log")
            expect(page.locator("h1")).to_have_text("Audit log")
            log = page.locator("#audit-log")
            for action in (
                "operator.login_failed",
                "operator.login",
                "tenant.created",
                "api_key.created",
                "api_key.updated",
                "gdpr.erase_requested",
            ):
                expect(log).to_contain_text(action)
            page.fill("#audit-filters input[name=action]", "api_key.*")
            page.click("#audit-filters button[type=submit]")
            expect(log).not_to_contain_text("tenant.created")
            expect(log.locator("tbody tr")).to_have_count(3)  # created, updated twice
            page.screenshot(path=str(shots / "audit-log.png"), full_page=True)
            page.fill("#audit-filters input[name=from]", "last week")
            page.click("#audit-filters button[type=submit]")
            expect(page.locator(".flash.error")).to_contain_text("from:")
        finally:
            browser.close()
            client.close()
