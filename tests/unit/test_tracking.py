"""Open and click tracking as pure rules: tokens, link rewriting, the pixel and
which user agents are machines."""

import uuid

import pytest

from iep_appliance.domain import tracking
from iep_appliance.domain.tracking import TrackingOptions

KEY = b"k" * 32
MID = str(uuid.UUID(int=42))
BASE = "https://mail.example.com/"


def test_tokens_round_trip() -> None:
    assert tracking.read_token(KEY, tracking.open_token(KEY, MID)) == ("open", MID, 0)
    assert tracking.read_token(KEY, tracking.click_token(KEY, MID, 7)) == ("click", MID, 7)


def _flip(token: str, at: int) -> str:
    swap = "A" if token[at] != "A" else "B"
    return token[:at] + swap + token[at + 1 :]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],
        lambda t: t + "A",
        lambda t: _flip(t, 0),  # the kind
        lambda t: _flip(t, 10),  # the message id
        lambda t: _flip(t, len(t) - 2),  # the tag
        lambda t: t.replace("-", "+"),
        lambda t: "",
        lambda t: "../../etc",
    ],
)
def test_a_tampered_token_reads_as_nothing(mangle) -> None:  # type: ignore[no-untyped-def]
    token = tracking.click_token(KEY, MID, 1)
    bad = mangle(token)
    if bad != token:
        assert tracking.read_token(KEY, bad) is None


def test_another_key_reads_nothing() -> None:
    assert tracking.read_token(b"x" * 32, tracking.open_token(KEY, MID)) is None


HTML = (
    '<html><body><p><a href="https://shop.example/a?x=1&amp;y=2">shop</a>'
    '<a href="mailto:help@example.com">mail</a>'
    '<a href="tel:+123">call</a><a href="#top">top</a><a href="/relative">rel</a>'
    '<a data-iep-notrack href="https://skip.example/">skip</a>'
    "<a class='b' href='http://plain.example/'>plain</a>"
    "<a href=https://bare.example/z>bare</a>"
    '<a href="https://x.example/a\r\nSet-Cookie: y=1">crlf</a>'
    '<a href="https://x.example/a b">space</a>'
    "</p></body></html>"
)


def test_only_http_links_not_marked_to_skip_are_trackable() -> None:
    assert tracking.links_of(HTML) == [
        "https://shop.example/a?x=1&y=2",
        "http://plain.example/",
        "https://bare.example/z",
    ]


def test_rewrite_sends_trackable_links_through_signed_click_urls() -> None:
    out = tracking.rewrite(HTML, MID, BASE, KEY, 2)
    assert "mailto:help@example.com" in out
    assert 'href="tel:+123"' in out and 'href="#top"' in out and 'href="/relative"' in out
    assert 'data-iep-notrack href="https://skip.example/"' in out
    assert "shop.example" not in out and "plain.example" not in out
    assert "<img" not in out  # clicks only
    tokens = [part.split('"')[0] for part in out.split("https://mail.example.com/t/c/")[1:]]
    assert [tracking.read_token(KEY, t) for t in tokens] == [
        ("click", MID, 0),
        ("click", MID, 1),
        ("click", MID, 2),
    ]


def test_rewrite_adds_the_pixel_before_the_body_ends() -> None:
    out = tracking.rewrite(HTML, MID, BASE, KEY, 1)
    token = tracking.open_token(KEY, MID)
    assert f'<img src="https://mail.example.com/t/o/{token}.gif"' in out
    assert out.endswith("</body></html>")
    assert out.index("<img") < out.index("</body>")
    assert "https://shop.example/a?x=1&amp;y=2" in out  # opens only: links untouched


def test_rewrite_of_a_fragment_appends_the_pixel() -> None:
    assert tracking.rewrite("<p>hi</p>", MID, BASE, KEY, 1).startswith("<p>hi</p><img ")


@pytest.mark.parametrize(
    ("agent", "kind"),
    [
        ("Mozilla/5.0", "apple_mail_privacy"),
        (
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com "
            "GoogleImageProxy)",
            "gmail_image_proxy",
        ),
        (
            "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
            "yahoo_image_proxy",
        ),
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", "bot"),
        ("", "unknown_agent"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like"
            " Gecko)",
            None,
        ),
        ("Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0", None),
    ],
)
def test_machines_are_flagged(agent: str, kind: str | None) -> None:
    assert tracking.classify_agent(agent) == kind


def test_flags_come_from_the_send_else_the_tenant() -> None:
    tenant = TrackingOptions(opens=True, clicks=False)
    assert tracking.flags_of(None, tenant) == 1
    assert tracking.flags_of(TrackingOptions(opens=True, clicks=True), tenant) == 3
    assert tracking.flags_of(TrackingOptions(), tenant) == 0


def test_engagement_buckets_are_zero_filled_and_split_people_from_machines() -> None:
    starts = ["2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"]
    rows = [
        tracking.EngagementCount("2026-01-01T11", "open", hits=3, first=1, bots=2),
        tracking.EngagementCount("2026-01-01T11", "click", hits=2, first=2, bots=0),
    ]
    out = tracking.fill_engagement(starts, 13, rows)
    assert out[0][1] == dict.fromkeys(tracking.ENGAGEMENT_COUNTS, 0)
    assert out[1][1] == {
        "opens": 3, "uniqueOpens": 1, "botOpens": 2, "clicks": 2, "uniqueClicks": 2,
        "botClicks": 0,
    }  # fmt: skip
