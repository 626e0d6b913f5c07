"""Open and click tracking through the real app (DESIGN §10.5): the message goes to
a real SMTP sink, the pixel and tracked links are read from the HTML that arrived, fetched,
and show up as events, webhooks and engagement counts. A tampered token, or a link index
that is not one of the message's links, is 404 and records nothing."""

import re
from typing import Any

import pytest

from iep_appliance.domain import tracking
from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.problems import assert_problem
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until
from tests.support.webhook_sink import WebhookSink

PUBLIC = "https://mail.acme.test"
HTML = (
    "<html><body><p>Hi {{name}}</p>"
    '<a href="https://shop.example/deal?id={{id}}&amp;x=1">Deal</a>'
    '<a href="mailto:help@acme.test">Help</a>'
    '<a data-iep-notrack href="https://skip.example/">Skip</a>'
    "</body></html>"
)
PERSON = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


@pytest.fixture
async def started(appliance: Appliance, smtp_sink: SmtpSink) -> Appliance:
    appliance.configure(
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port}},
        routing={"default_provider": "relay"},
        server={"public_url": PUBLIC},
        webhooks={"allow_private_networks": True},
    )
    await appliance.start()
    return appliance


async def delivered_html(
    appliance: Appliance, who: TenantKey, sink: SmtpSink, **body: Any
) -> tuple[str, str]:
    """(message id, the HTML part that reached the sink) once the send is recorded."""
    resp = await appliance.client.post(
        "/v1/messages",
        json=message(htmlBody=HTML, variables={"name": "Ada", "id": "7"}, **body),
        headers=who.auth,
    )
    assert resp.status_code == 202, resp.text
    message_id = resp.json()["messageId"]
    await wait_until(lambda: message_id in sink.by_iep_id(), timeout=15)

    async def sent() -> bool:
        found = await appliance.rt.services.store.get_message(who.tenant_id, message_id)
        return found is not None and found.status == "sent"

    await wait_until(sent, timeout=15)
    received = next(r for r in sink.received if r.parsed["X-IEP-Message-Id"] == message_id)
    part = received.parsed.get_body(("html",))
    assert part is not None
    return message_id, part.get_content()


def tracked_paths(html: str) -> tuple[list[str], list[str]]:
    """(pixel paths, click paths) of the tracked URLs in `html`."""
    pixels = re.findall(re.escape(PUBLIC) + r"(/t/o/[A-Za-z0-9_-]+\.gif)", html)
    clicks = re.findall(re.escape(PUBLIC) + r"(/t/c/[A-Za-z0-9_-]+)", html)
    return pixels, clicks


async def events_of(appliance: Appliance, who: TenantKey, message_id: str) -> list[dict]:
    resp = await appliance.client.get(f"/v1/messages/{message_id}", headers=who.auth)
    return [e for e in resp.json()["events"] if e["type"] in ("opened", "clicked")]


async def test_opens_and_clicks_are_recorded_with_first_and_unique_and_webhooks(
    started: Appliance, smtp_sink: SmtpSink, webhook_sink: WebhookSink
) -> None:
    acme = await started.tenant("acme")
    c = started.client
    hook = await c.post(
        "/v1/webhooks",
        json={"url": webhook_sink.url(), "events": ["message.opened", "message.clicked"]},
        headers=acme.auth,
    )
    assert hook.status_code == 201, hook.text
    message_id, html = await delivered_html(
        started, acme, smtp_sink, tracking={"opens": True, "clicks": True}
    )
    pixels, clicks = tracked_paths(html)
    assert len(pixels) == 1 and len(clicks) == 1
    assert "mailto:help@acme.test" in html and 'href="https://skip.example/"' in html
    assert "shop.example" not in html

    gif = await c.get(pixels[0], headers={"user-agent": GMAIL})
    assert gif.status_code == 200 and gif.headers["content-type"] == "image/gif"
    assert gif.content == tracking.PIXEL_GIF
    await c.get(pixels[0], headers={"user-agent": PERSON})
    await c.get(pixels[0], headers={"user-agent": PERSON})
    for _ in range(2):
        click = await c.get(clicks[0], headers={"user-agent": PERSON})
        assert click.status_code == 302
        assert click.headers["location"] == "https://shop.example/deal?id=7&x=1"

    found = await events_of(started, acme, message_id)
    assert [(e["type"], e["data"].get("first"), e["data"].get("bot")) for e in found[:3]] == [
        ("opened", False, "gmail_image_proxy"),
        ("opened", True, None),
        ("opened", False, None),
    ]
    assert [(e["data"]["url"], e["data"]["unique"]) for e in found[3:]] == [
        ("https://shop.example/deal?id=7&x=1", True),
        ("https://shop.example/deal?id=7&x=1", False),
    ]
    assert found[1]["data"]["userAgent"] == PERSON
    await wait_until(lambda: len(webhook_sink.requests) == 5, timeout=15)
    names = sorted(r.json()["event"] for r in webhook_sink.requests)
    assert names == ["message.clicked"] * 2 + ["message.opened"] * 3

    stats = await c.get("/v1/analytics/engagement", headers=acme.auth)
    assert stats.status_code == 200, stats.text
    assert stats.json()["totals"] == {
        "opens": 3, "uniqueOpens": 1, "botOpens": 1,
        "clicks": 2, "uniqueClicks": 1, "botClicks": 0,
    }  # fmt: skip
    assert len(stats.json()["buckets"]) == 24
    daily = await c.get("/v1/analytics/engagement?groupBy=day", headers=acme.auth)
    assert len(daily.json()["buckets"]) == 30 and daily.json()["totals"]["opens"] == 3
    assert_problem(await c.get("/v1/analytics/engagement?groupBy=week", headers=acme.auth),
                   422, "groupBy")  # fmt: skip


async def test_a_tampered_token_or_a_link_not_in_the_message_is_404_and_records_nothing(
    started: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await started.tenant("acme")
    message_id, html = await delivered_html(
        started, acme, smtp_sink, tracking={"opens": True, "clicks": True}
    )
    pixels, clicks = tracked_paths(html)
    c = started.client
    token = clicks[0].removeprefix("/t/c/")
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    key = started.rt.services.tracking.key
    beyond = tracking.click_token(key, message_id, 1)  # genuine, but the message has one link
    as_open = tracking.open_token(key, message_id)
    for path in (
        f"/t/c/{flipped}",
        f"/t/c/{token[:-1]}",
        f"/t/c/{beyond}",
        f"/t/c/{as_open}",
        f"/t/o/{token}.gif",
        pixels[0].removesuffix(".gif"),
    ):
        assert_problem(await c.get(path), 404)
    assert await events_of(started, acme, message_id) == []
    # the target never comes from the request
    resp = await c.get(f"/t/c/{token}?url=https://evil.example/&to=https://evil.example/")
    assert resp.status_code == 302
    assert resp.headers["location"] == "https://shop.example/deal?id=7&x=1"


async def test_untracked_messages_have_plain_links_and_the_tenant_default_applies(
    started: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await started.tenant("acme")
    _id, plain = await delivered_html(started, acme, smtp_sink)
    assert tracked_paths(plain) == ([], [])
    assert 'href="https://shop.example/deal?id=7&amp;x=1"' in plain
    patched = await started.client.patch(
        "/v1/tenant", json={"tracking": {"opens": True}}, headers=acme.auth
    )
    assert patched.status_code == 200 and patched.json()["tracking"] == {
        "opens": True,
        "clicks": False,
    }
    _id, opens_only = await delivered_html(started, acme, smtp_sink, to=["b@example.org"])
    assert [len(p) for p in tracked_paths(opens_only)] == [1, 0]
    _id, off = await delivered_html(
        started, acme, smtp_sink, to=["c@example.org"], tracking={"opens": False}
    )
    assert tracked_paths(off) == ([], [])
    bad = await started.client.patch(
        "/v1/tenant", json={"tracking": {"opens": "yes"}}, headers=acme.auth
    )
    assert_problem(bad, 422, "tracking.opens")


async def test_a_pixel_of_an_untracked_message_is_404(
    started: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await started.tenant("acme")
    message_id, _html = await delivered_html(started, acme, smtp_sink)
    token = tracking.open_token(started.rt.services.tracking.key, message_id)
    assert_problem(await started.client.get(f"/t/o/{token}.gif"), 404)
    assert await events_of(started, acme, message_id) == []
