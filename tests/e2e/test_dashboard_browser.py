"""The dashboard in a real browser: headless Debian Chromium driven by Playwright against the
real `iep serve`. Signs in with the first-start credentials the server printed, sees the
overview chart, opens a message from the list, previews it in the outbox, and saves a
screenshot of each page into tmp_path. Skipped only when /usr/bin/chromium is absent.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(120)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def credentials(stdout: str) -> dict[str, str]:
    return dict(re.findall(r"^(key|admin_email|admin_password|dashboard_url)=(\S+)$", stdout, re.M))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    port = free_port()
    config = write_config(tmp_path, port)
    with ServerProcess(config, port, tmp_path / "logs") as proc:
        yield proc


def send_and_wait(server: ServerProcess, key: str) -> str:
    body = {
        "to": ["ada@example.org"],
        "from": {"email": "noreply@example.com", "name": "Product"},
        "subject": "Welcome {{name}}",
        "htmlBody": "<h1>Hello {{name}}</h1><p>Your account is ready.</p>"
        "<script>document.title='pwned'</script>",
        "variables": {"name": "Ada"},
    }
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as client:
        resp = client.post("/v1/messages", json=body, headers={"x-api-key": key})
        assert resp.status_code == 202, resp.text
        message_id = str(resp.json()["messageId"])

        def sent() -> bool:
            got = client.get(f"/v1/messages/{message_id}", headers={"x-api-key": key})
            return bool(got.json()["status"] == "sent")

        wait_until_sync(sent, timeout=20, message="message sent")
    return message_id


def test_operator_signs_in_and_walks_overview_messages_and_outbox(
    server: ServerProcess, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import expect, sync_playwright

    creds = credentials(server.stdout_text())
    assert creds["dashboard_url"] == f"{server.base_url}/admin/"
    message_id = send_and_wait(server, creds["key"])

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(creds["dashboard_url"])
            expect(page).to_have_url(re.compile(r"/admin/login"))
            page.fill("input[name=email]", creds["admin_email"])
            page.fill("input[name=password]", creds["admin_password"])
            page.click("button[type=submit]")

            expect(page.locator("h1")).to_have_text("Overview")
            expect(page.locator("svg.chart")).to_be_visible()
            expect(page.locator("svg.chart rect.bar.sent")).to_have_count(1)
            page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

            page.click("nav >> text=Messages")
            expect(page.locator("h1")).to_have_text("Messages")
            page.screenshot(path=str(tmp_path / "messages.png"), full_page=True)
            page.click(f"a[href='/admin/messages/{message_id}'] >> nth=1")
            expect(page.locator("h1")).to_have_text("Welcome Ada")
            expect(page.locator(".timeline")).to_contain_text("sent")
            page.screenshot(path=str(tmp_path / "message.png"), full_page=True)

            page.click("nav >> text=Outbox")
            expect(page.locator("h1")).to_have_text("Outbox")
            page.click(f"#outbox-rows a[href='/admin/outbox/{message_id}'] >> nth=1")
            expect(page).to_have_url(re.compile(f"/admin/outbox/{message_id}$"))
            frame = page.frame_locator("iframe.mail")
            expect(frame.locator("h1")).to_have_text("Hello Ada")
            expect(page.locator("pre.text")).to_contain_text("Hello Ada")
            assert page.title() != "pwned"
            page.screenshot(path=str(tmp_path / "outbox.png"), full_page=True)

            for name in ("tenants", "queue"):
                page.click(f"nav >> text={name.title()}")
                expect(page.locator("h1")).to_have_text(name.title())
                page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
        finally:
            browser.close()

    assert (tmp_path / "outbox.png").stat().st_size > 10_000
