"""The dashboard in a real browser: headless Debian Chromium driven by Playwright against the
real `iep serve` (with a relay provider to a real aiosmtpd sink). Signs in with the printed
first-start credentials, watches a message sent through the API appear in the open list
without a reload, opens it (events, sanitized preview where no script or onerror ran), finds
it in the outbox, retries a message the relay refused and watches its status change, and
checks the list fits a phone. Screenshots go to `IEP_SCREENSHOTS` (or test-artifacts/screenshots).
Without /usr/bin/chromium it skips, except under CI=true where it fails.
"""

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.smtp_sink import SmtpSink
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


BODY = {
    "to": ["ada@example.org"],
    "from": {"email": "noreply@example.com", "name": "Product"},
    "subject": "Welcome {{name}}",
    "htmlBody": "<h1>Hello {{name}}</h1><p>Your account is ready.</p>"
    '<img src="https://tracker.example/p.gif" onerror="window.pwned = 1">'
    "<script>document.title='pwned'; window.pwned = 1</script>",
    "variables": {"name": "Ada"},
}


def credentials(stdout: str) -> dict[str, str]:
    return dict(re.findall(r"^(key|admin_email|admin_password|dashboard_url)=(\S+)$", stdout, re.M))


def log_in(page: Any, creds: dict[str, str]) -> None:
    """Open the dashboard, sign in as the first-start admin, land on the overview."""
    from playwright.sync_api import expect

    page.goto(creds["dashboard_url"])
    page.fill("input[name=email]", creds["admin_email"])
    page.fill("input[name=password]", creds["admin_password"])
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    port = free_port()
    config = write_config(tmp_path, port)
    with ServerProcess(config, port, tmp_path / "logs") as proc:
        yield proc


SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go for a person to look at: `IEP_SCREENSHOTS` if set, else
    test-artifacts/screenshots in the checkout (git-ignored); each run overwrites them."""
    target = Path(os.environ.get("IEP_SCREENSHOTS") or SCREENSHOTS)
    target.mkdir(parents=True, exist_ok=True)
    return target


def need_chromium() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Debian chromium is required under CI=true (/usr/bin/chromium)")
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")


@pytest.fixture
def relay_server(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[ServerProcess]:
    """`iep serve` with a second provider, `relay`, delivering to the SMTP sink."""
    port = free_port()
    config = write_config(
        tmp_path,
        port,
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port}},
    )
    with ServerProcess(config, port, tmp_path / "logs") as proc:
        yield proc


def wait_for_status(client: httpx.Client, key: str, message_id: str, wanted: str) -> None:
    def reached() -> bool:
        got = client.get(f"/v1/messages/{message_id}", headers={"x-api-key": key})
        return bool(got.json()["status"] == wanted)

    wait_until_sync(reached, timeout=20, message=f"message {wanted}")


def test_operator_watches_a_message_arrive_previews_it_and_retries_a_failed_one(
    relay_server: ServerProcess, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    server = relay_server
    creds = credentials(server.stdout_text())
    assert creds["dashboard_url"] == f"{server.base_url}/admin/"
    key, shots = creds["key"], screenshots(tmp_path)
    api = httpx.Client(base_url=server.base_url, trust_env=False, timeout=10)
    auth = {"x-api-key": key}

    with api, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(creds["dashboard_url"])
            expect(page).to_have_url(re.compile(r"/admin/login"))
            page.fill("input[name=email]", creds["admin_email"])
            page.fill("input[name=password]", creds["admin_password"])
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Overview")

            # The list is open before the message exists; it appears without a reload.
            page.click("nav >> text=Messages")
            expect(page.locator("h1")).to_have_text("Messages")
            page.evaluate("window.__sameDocument = true")
            resp = api.post("/v1/messages", json=BODY, headers=auth)
            assert resp.status_code == 202, resp.text
            message_id = resp.json()["messageId"]
            row = page.locator(f"#message-rows tr[data-id='{message_id}']")
            expect(row).to_be_visible(timeout=15_000)
            expect(row.locator(".badge")).to_have_text("sent", timeout=15_000)
            assert page.evaluate("window.__sameDocument") is True  # no reload happened
            page.screenshot(path=str(shots / "messages.png"), full_page=True)

            # Its page: the lifecycle and the sanitized preview, where nothing ran.
            row.locator("a").last.click()
            expect(page.locator("h1")).to_have_text("Welcome Ada")
            expect(page.locator(".timeline")).to_contain_text("processing")
            expect(page.locator(".timeline")).to_contain_text("sent")
            frame = page.frame_locator("iframe.mail")
            expect(frame.locator("h1")).to_have_text("Hello Ada")
            expect(frame.locator("img")).to_have_count(1)  # the remote one, its src dropped
            assert frame.locator("img").get_attribute("src") is None
            assert page.title() != "pwned" and page.evaluate("window.pwned") is None
            page.screenshot(path=str(shots / "message.png"), full_page=True)

            page.click("nav >> text=Outbox")
            page.click(f"#outbox-rows a[href='/admin/outbox/{message_id}'] >> nth=1")
            expect(page).to_have_url(re.compile(f"/admin/outbox/{message_id}$"))
            expect(page.frame_locator("iframe.mail").locator("h1")).to_have_text("Hello Ada")
            expect(page.locator("pre.text")).to_contain_text("Hello Ada")
            assert page.title() != "pwned"
            page.screenshot(path=str(shots / "outbox.png"), full_page=True)

            # A message the relay refuses fails; Retry sends it, and the list shows the change.
            routing = {"routing": {"primaryProvider": "relay"}}
            assert api.patch("/v1/tenant", json=routing, headers=auth).status_code == 200
            smtp_sink.script_data("554 5.6.0 content rejected")
            resp = api.post("/v1/messages", json={**BODY, "subject": "Invoice"}, headers=auth)
            failed_id = resp.json()["messageId"]
            wait_for_status(api, key, failed_id, "failed")
            page.goto(f"{server.base_url}/admin/messages/{failed_id}")
            expect(page.locator("#message-status")).to_have_text("failed")
            expect(page.locator("table.attempts")).to_contain_text("554 5.6.0")
            # Select it in the list; the selection outlives the list's refresh; retry it.
            page.click("nav >> text=Messages")
            page.evaluate(
                "window.__swaps = 0; document.body.addEventListener("
                "'htmx:afterSwap', () => { window.__swaps += 1 })"
            )
            pick = page.locator(f"#pick-{failed_id}")
            pick.check()
            page.wait_for_function("() => window.__swaps > 0", timeout=15_000)
            expect(pick).to_be_checked()
            page.click("button:has-text('Retry selected')")
            expect(page.locator(".flash.ok")).to_contain_text("Queued again: 1")
            failed_row = page.locator(f"#message-rows tr[data-id='{failed_id}'] .badge")
            expect(failed_row).to_have_text("sent", timeout=15_000)
            assert len(smtp_sink.received) == 1

            page.click("nav >> text=Overview")
            expect(page.locator("svg.chart")).to_have_count(2)
            expect(page.locator(".providers")).to_contain_text("554 5.6.0")
            page.screenshot(path=str(shots / "overview.png"), full_page=True)
            for name in ("tenants", "queue"):
                page.click(f"nav >> text={name.title()}")
                expect(page.locator("h1")).to_have_text(name.title())
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.context.add_cookies(page.context.cookies())
            phone.goto(f"{server.base_url}/admin/messages")
            expect(phone.locator("h1")).to_have_text("Messages")
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390 + 1, f"the phone page scrolls sideways ({width}px)"
            phone.screenshot(path=str(shots / "messages-phone.png"), full_page=True)
        finally:
            browser.close()

    assert (shots / "outbox.png").stat().st_size > 10_000
