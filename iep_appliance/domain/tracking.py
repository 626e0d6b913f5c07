"""Open and click tracking (DESIGN §10.5): signed tokens, link rewriting, the pixel, and which
user agents are machines. Pure: no I/O, no clock.

At render time (delivery), `rewrite` replaces every trackable link of the rendered HTML with
`{base}/t/c/{token}` and adds a 1x1 pixel `{base}/t/o/{token}.gif`. Trackable: an `<a href>`
whose URL is `http(s)`; `mailto:`, `tel:`, fragments, relative links and anchors marked
`data-iep-notrack` are left alone. A click token names the message and the link's index among
the trackable links of the message's rendered HTML, so the redirect target is always read back
from that message (`links_of`), never from the request: no open redirect.

A token is `o` or `c` + the message id (16 bytes) [+ the link index, 2 bytes] + an
HMAC-SHA256 tag (12 bytes) under a key derived from the master key, base64url without padding.
"""

import base64
import hmac
import re
import uuid
from hashlib import sha256
from html import escape, unescape
from typing import Annotated

import msgspec

_TAG = 12
_PURPOSE = b"iep tracking v1:"
MAX_LINKS = 65_535
# An anchor's start tag, and its href attribute (quoted either way, or bare).
_ANCHOR = re.compile(r"<a\b[^>]*>", re.IGNORECASE)
_HREF = re.compile(r"""(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_NOTRACK = re.compile(r"\sdata-iep-notrack\b", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
# A transparent 1x1 GIF (43 bytes): what /t/o/{token}.gif answers.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

# Machines that fetch images or follow links without a person: (marker in the lower-cased
# user agent, what it is). Apple Mail Privacy Protection fetches through Apple's proxy with
# a bare `Mozilla/5.0`; Gmail, Yahoo and others proxy images under their own names.
_AGENTS: tuple[tuple[str, str], ...] = (
    ("googleimageproxy", "gmail_image_proxy"),
    ("ggpht.com", "gmail_image_proxy"),
    ("yahoomailproxy", "yahoo_image_proxy"),
    ("outlook-iossubscriber", "outlook_prefetch"),
    ("proofpoint", "link_scanner"),
    ("barracuda", "link_scanner"),
    ("mimecast", "link_scanner"),
    ("safelinks", "link_scanner"),
    ("bot", "bot"),
    ("crawler", "bot"),
    ("spider", "bot"),
    ("slurp", "bot"),
    ("facebookexternalhit", "bot"),
    ("preview", "prefetch"),
)
_APPLE_PROXY_UA = "mozilla/5.0"


class TrackingOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    opens: Annotated[bool, msgspec.Meta(description="Add a 1x1 pixel: `opened` events.")] = False
    clicks: Annotated[
        bool, msgspec.Meta(description="Rewrite http(s) links: `clicked` events.")
    ] = False


# The send's field (SendRequest, domain/models.py).
TrackingField = Annotated[
    TrackingOptions | None,
    msgspec.Meta(description="Open and click tracking; the tenant's `tracking` when absent."),
]


def flags_of(options: TrackingOptions | None, default: TrackingOptions) -> int:
    """The message's tracking bits (1 opens, 2 clicks): the send's, else the tenant's."""
    chosen = options if options is not None else default
    return (1 if chosen.opens else 0) | (2 if chosen.clicks else 0)


def classify_agent(user_agent: str) -> str | None:
    """What machine a user agent is (`gmail_image_proxy`, `apple_mail_privacy`, `bot`, …), or
    None for a person's mail client or browser."""
    ua = user_agent.strip().lower()
    if not ua:
        return "unknown_agent"
    if ua == _APPLE_PROXY_UA:
        return "apple_mail_privacy"
    for marker, kind in _AGENTS:
        if marker in ua:
            return kind
    return None


# ---- tokens ---------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _sign(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, _PURPOSE + body, sha256).digest()[:_TAG]


def open_token(key: bytes, message_id: str) -> str:
    body = b"o" + uuid.UUID(message_id).bytes
    return _b64(body + _sign(key, body))


def click_token(key: bytes, message_id: str, index: int) -> str:
    body = b"c" + uuid.UUID(message_id).bytes + index.to_bytes(2, "big")
    return _b64(body + _sign(key, body))


def read_token(key: bytes, token: str) -> tuple[str, str, int] | None:
    """("open" | "click", message id, link index) of a genuine token; None for anything
    forged, cut or altered."""
    if not token or len(token) > 64 or not all(c.isalnum() or c in "-_" for c in token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None
    if _b64(raw) != token:  # canonical form only
        return None
    kind = raw[:1]
    size = 17 if kind == b"o" else 19 if kind == b"c" else 0
    if not size or len(raw) != size + _TAG:
        return None
    body, tag = raw[:size], raw[size:]
    if not hmac.compare_digest(tag, _sign(key, body)):
        return None
    message_id = str(uuid.UUID(bytes=body[1:17]))
    if kind == b"o":
        return "open", message_id, 0
    return "click", message_id, int.from_bytes(body[17:19], "big")


# ---- links and the pixel ------------------------------------------------------------------


def _trackable(url: str) -> bool:
    """An absolute http(s) URL without spaces or control characters (a redirect's Location
    must never carry CR/LF)."""
    low = url.lower()
    if not low.startswith(("http://", "https://")) or len(low) <= 8:
        return False
    return not any(c <= " " or c == "\x7f" for c in url)


def _href_of(tag: str) -> tuple[re.Match[str] | None, str]:
    found = _HREF.search(tag)
    if found is None:
        return None, ""
    raw = next(g for g in found.groups()[1:] if g is not None)
    return found, unescape(raw).strip()


def links_of(html: str) -> list[str]:
    """The trackable URLs of a rendered HTML body, in order (a click token's index is into
    this list)."""
    out = []
    for anchor in _ANCHOR.finditer(html):
        tag = anchor.group(0)
        if _NOTRACK.search(tag):
            continue
        found, url = _href_of(tag)
        if found is not None and _trackable(url):
            out.append(url)
            if len(out) == MAX_LINKS:
                break
    return out


def rewrite(html: str, message_id: str, base_url: str, key: bytes, flags: int) -> str:
    """The HTML as sent: trackable links through `/t/c/…` (flag 2), a pixel (flag 1)."""
    base = base_url.rstrip("/")
    if flags & 2:
        index = 0

        def swap(anchor: re.Match[str]) -> str:
            nonlocal index
            tag = anchor.group(0)
            if _NOTRACK.search(tag):
                return tag
            found, url = _href_of(tag)
            if found is None or not _trackable(url) or index >= MAX_LINKS:
                return tag
            link = f'{found.group(1)}"{base}/t/c/{click_token(key, message_id, index)}"'
            index += 1
            return tag[: found.start()] + link + tag[found.end() :]

        html = _ANCHOR.sub(swap, html)
    if flags & 1:
        pixel = (
            f'<img src="{escape(base)}/t/o/{open_token(key, message_id)}.gif" width="1"'
            ' height="1" alt="" style="display:block;border:0;width:1px;height:1px">'
        )
        ends = list(_BODY_END.finditer(html))
        if ends:
            at = ends[-1].start()
            html = html[:at] + pixel + html[at:]
        else:
            html = html + pixel
    return html


# ---- what the store records -----------------------------------------------------------------


class EngagementHit(msgspec.Struct, frozen=True):
    """One pixel fetch or click of a tracked message (its tenant read from the message)."""

    tenant_id: str
    message_id: str
    kind: str  # open | click
    user_agent: str
    bot: str | None  # classify_agent's verdict; None for a person
    url: str | None = None


def event_data(hit: EngagementHit, first: bool) -> dict[str, object]:
    """The `opened` / `clicked` event's data: `{url?, userAgent, first|unique, bot?}`."""
    data: dict[str, object] = {"userAgent": hit.user_agent}
    if hit.url is not None:
        data["url"] = hit.url
    data["first" if hit.kind == "open" else "unique"] = first
    if hit.bot is not None:
        data["bot"] = hit.bot
    return data


EVENT_TYPE = {"open": "opened", "click": "clicked"}
WEBHOOK_EVENT = {"open": "message.opened", "click": "message.clicked"}


ENGAGEMENT_COUNTS: tuple[str, ...] = (
    "opens",
    "uniqueOpens",
    "botOpens",
    "clicks",
    "uniqueClicks",
    "botClicks",
)


class EngagementCount(msgspec.Struct, frozen=True):
    """The store's count of one kind of hit in one bucket (`bucket`: the first characters of
    the hits' created_at, e.g. `2026-01-02T10` for an hour)."""

    bucket: str
    kind: str  # open | click
    hits: int
    first: int  # hits that were the first by a person
    bots: int  # hits by a known machine


def fill_engagement(
    starts: list[str], width: int, found: list[EngagementCount]
) -> list[tuple[str, dict[str, int]]]:
    """Zero-filled buckets (start, counts) from the store's counts: `opens` and `clicks` count
    every hit, `unique*` the first by a person, `bot*` the machines' (which are in
    `opens`/`clicks` too)."""
    buckets = {start: dict.fromkeys(ENGAGEMENT_COUNTS, 0) for start in starts}
    by_prefix = {start[:width]: counts for start, counts in buckets.items()}
    for row in found:
        counts = by_prefix.get(row.bucket)
        if counts is None or row.kind not in ("open", "click"):
            continue
        noun = "Opens" if row.kind == "open" else "Clicks"
        counts[noun.lower()] += row.hits
        counts[f"unique{noun}"] += row.first
        counts[f"bot{noun}"] += row.bots
    return list(buckets.items())
