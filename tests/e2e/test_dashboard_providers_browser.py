"""The providers page of a tenant in a real browser: headless Chromium against the real
`iep serve`, with a real aiosmtpd relay on 127.0.0.1 that takes one login. The operator
follows the tenant page's link, is told which field is wrong when the form is bad (nothing
added), adds an SMTP provider with a password that the page never shows again, tests it
(ok), tests one at a closed port (failed at connect) and one with a wrong password (failed
at auth), sees the provider over `GET /v1/providers` with the tenant's key, and deletes it.
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
    screenshots,
    server,
)
from tests.support.procs import ServerProcess, free_port
from tests.support.smtp_sink import SmtpSink

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(120)]

__all__ = ["server"]  # the fixture: the real `iep serve` with its first-start credentials

LOGIN, PASSWORD = "relay-user", "pw-Zq81-never-shown"


@pytest.fixture
def relay() -> Iterator[SmtpSink]:
    """The tenant's own relay: a real aiosmtpd that offers AUTH and takes only LOGIN/PASSWORD."""
    with SmtpSink(auth=(LOGIN, PASSWORD)) as sink:
        yield sink


def settings(port: int) -> str:
    return f'{{"host": "127.0.0.1", "port": {port}, "security": "none", "username": "{LOGIN}"}}'


def add_provider(page: Any, name: str, port: int, password: Any) -> None:
    form = page.locator("form:has(button:has-text('Add provider'))")
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=type]").select_option("smtp")
    form.locator("textarea[name=settings]").fill(settings(port))
    secret = f'"{password}"' if isinstance(password, str) else str(password)
    form.locator("textarea[name=credentials]").fill(f'{{"password": {secret}}}')
    form.locator("button:has-text('Add provider')").click()


def test_operator_adds_tests_and_deletes_a_tenants_smtp_provider(
    server: ServerProcess, relay: SmtpSink, tmp_path: Path
) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    creds = credentials(server.stdout_text())
    auth = {"x-api-key": creds["key"]}
    api = httpx.Client(base_url=server.base_url, trust_env=False, timeout=10)

    with api, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            log_in(page, creds)
            page.click("nav >> text=Tenants")
            page.click("a:has-text('default')")
            page.click("a:has-text('Providers')")
            expect(page.locator("h1")).to_contain_text("Providers of")
            table = page.locator("#t-providers table.list")
            expect(table).to_contain_text("No provider of its own")

            # A blank name and a port out of range: each field named, nothing added.
            add_provider(page, "   ", 70000, PASSWORD)
            errors = page.locator("#t-providers .field-error")
            expect(errors.filter(has_text="name")).to_have_count(1)
            expect(errors.filter(has_text="settings.port")).to_contain_text("1-65535")
            expect(table).to_contain_text("No provider of its own")
            assert PASSWORD not in page.content()  # not echoed back into the form either
            # A password that is not a string: the error names it (it used to say `type`).
            add_provider(page, "own-relay", relay.port, 12345)
            expect(errors).to_have_count(1)
            expect(errors.locator("code")).to_have_text(re.compile(r"^credentials\b"))
            expect(errors).to_contain_text("expected `str`, got `int`")
            expect(table).to_contain_text("No provider of its own")
            assert api.get("/v1/providers", headers=auth).json()["data"] == []

            add_provider(page, "own-relay", relay.port, PASSWORD)
            expect(page.locator(".notice")).to_contain_text("Provider added.")
            row = table.locator("tr:has-text('own-relay')")
            expect(row).to_have_count(1)
            expect(row).to_contain_text(f"port={relay.port}")
            expect(row).to_contain_text("password")  # which credential is set, not its value
            assert PASSWORD not in page.content()

            row.locator("button:has-text('Test')").click()
            probe = page.locator("#probe-result")
            expect(probe).to_contain_text("ok")
            expect(probe).not_to_contain_text("failed")
            assert PASSWORD not in page.content()

            add_provider(page, "own-relay", relay.port, PASSWORD)  # the name is taken
            expect(errors).to_have_count(1)
            expect(errors.filter(has_text="name")).to_have_count(1)
            expect(row).to_have_count(1)

            add_provider(page, "closed-port", free_port(), PASSWORD)
            table.locator("tr:has-text('closed-port') button:has-text('Test')").click()
            expect(probe).to_contain_text("failed at connect")

            add_provider(page, "wrong-password", relay.port, "not-the-password")
            table.locator("tr:has-text('wrong-password') button:has-text('Test')").click()
            expect(probe).to_contain_text("failed at auth")
            expect(probe).to_contain_text("535")
            page.screenshot(path=str(screenshots(tmp_path) / "providers.png"), full_page=True)

            listed = api.get("/v1/providers", headers=auth)
            assert listed.status_code == 200, listed.text
            mine = next(p for p in listed.json()["data"] if p["name"] == "own-relay")
            assert mine["type"] == "smtp"
            assert mine["settings"]["port"] == relay.port
            assert mine["credentialsSet"] == ["password"]
            assert PASSWORD not in listed.text

            row.locator("button:has-text('Delete')").click()
            expect(page.locator(".notice")).to_contain_text("Provider deleted.")
            expect(table).not_to_contain_text("own-relay")
            expect(table).to_contain_text("closed-port")
            names = {p["name"] for p in api.get("/v1/providers", headers=auth).json()["data"]}
            assert names == {"closed-port", "wrong-password"}
        finally:
            browser.close()
