"""The reputation hold in a real browser (DESIGN §10.3): the real `iep serve` sends
to an SMTP sink, a complaint comes back over SMTP to its inbound listener, the tenant is held
(its next message accepted but not sent); the operator opens the tenant's page in headless
Chromium, sees the hold and the trend, clicks Resume, and the held message is delivered."""

from pathlib import Path
from typing import Any

import aiosmtplib
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

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(150)]
BOUNCE_DOMAIN = "bounces.iep.test"
SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "bounces"


@pytest.fixture
def inbound_port() -> int:
    return free_port()


@pytest.fixture
def server(tmp_path: Path, smtp_sink: SmtpSink, inbound_port: int) -> Any:
    port = free_port()
    config = write_config(
        tmp_path,
        port,
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port}},
        routing={"default_provider": "relay"},
        inbound={"enabled": True, "port": inbound_port, "bounce_domain": BOUNCE_DOMAIN},
        reputation={"min_messages": 2},
        logging={"access_log": False},
    )
    with ServerProcess(config, port, tmp_path / "logs") as proc:
        yield proc


def send(client: httpx.Client, to: str) -> str:
    resp = client.post(
        "/v1/messages",
        json={
            "to": [to],
            "from": {"email": "noreply@example.com"},
            "subject": "Hello",
            "htmlBody": "<p>Hi</p>",
        },
    )
    assert resp.status_code == 202, resp.text
    return str(resp.json()["messageId"])


def complain(port: int, message_id: str, rcpt: str, verp: str) -> None:
    text = (SAMPLES / "yahoo_arf_abuse.eml").read_text()
    text = text.replace("{RCPT}", rcpt).replace("{IEPID}", message_id).replace("{VERP}", verp)

    async def go() -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) as smtp:
            await smtp.sendmail("", [f"fbl@{BOUNCE_DOMAIN}"], text.replace("\n", "\r\n").encode())

    import asyncio

    asyncio.run(go())


def hold_applied(server: ServerProcess) -> int:
    """How many processes logged that they applied a reputation change (a hold)."""
    return sum(
        1
        for line in server.stdout_text().splitlines()
        if '"event":"changes.applied"' in line and '"kind":"reputation"' in line
    )


def test_operator_resumes_a_held_tenant_and_the_held_mail_goes_out(
    server: ServerProcess, smtp_sink: SmtpSink, inbound_port: int
) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    creds = credentials(server.stdout_text())
    with httpx.Client(
        base_url=server.base_url, headers={"x-api-key": creds["key"]}, timeout=10, trust_env=False
    ) as client:
        first = send(client, "c@example.org")
        send(client, "d@example.org")
        wait_until_sync(lambda: len(smtp_sink.by_iep_id()) == 2, timeout=30)
        verp = next(r for r in smtp_sink.received if r.parsed["X-IEP-Message-Id"] == first)
        complain(inbound_port, first, "c@example.org", verp.mail_from)
        wait_until_sync(
            lambda: client.get("/v1/analytics/reputation").json()["state"] == "paused",
            timeout=30,
        )
        # The rates say paused; the hold is in force once every process has applied it (the
        # change feed: within a second; each process logs it).
        wait_until_sync(lambda: hold_applied(server) >= max(1, server.workers), timeout=30)
        held = send(client, "e@example.org")
        wait_until_sync(
            lambda: (client.get(f"/v1/messages/{held}").json()["lastError"] or "").startswith(
                "held:"
            ),
            timeout=30,
        )
        assert held not in smtp_sink.by_iep_id()

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                log_in(page, creds)
                page.click("nav >> text=Tenants")
                page.click("a:has-text('default')")

                panel = page.locator("#t-domains")
                expect(panel.locator("[data-testid=reputation]")).to_contain_text("paused")
                expect(panel.locator("[data-testid=reputation-held]")).to_be_visible()
                expect(
                    panel.locator("[data-testid=reputation-trend] rect.complained")
                ).to_have_count(1)
                panel.locator("button:has-text('Resume sending')").click()
                expect(page.locator("#t-domains")).to_contain_text("Sending resumed")
                expect(page.locator("[data-testid=reputation-held]")).to_have_count(0)
                expect(page.locator("#t-domains [data-testid=reputation]")).to_contain_text("ok")
            finally:
                browser.close()

        wait_until_sync(lambda: held in smtp_sink.by_iep_id(), timeout=30)
        wait_until_sync(
            lambda: client.get(f"/v1/messages/{held}").json()["status"] == "sent", timeout=30
        )
        assert client.get("/v1/analytics/reputation").json()["state"] == "ok"
