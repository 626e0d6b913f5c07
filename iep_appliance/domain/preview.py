"""Preview of a stored MIME message for the dashboard: decoded headers, the HTML part
sanitized with nh3 (no script, no event handlers, no javascript: URLs), the text part and
the attachments. Pure: parses bytes it is given."""

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import msgspec
import nh3

# Parts larger than this are cut before sanitizing (a preview, not an archive).
MAX_PART_CHARS = 500_000


class PreviewAttachment(msgspec.Struct, frozen=True):
    filename: str
    content_type: str
    size_bytes: int


class Preview(msgspec.Struct, frozen=True):
    headers: list[tuple[str, str]]
    subject: str
    html: str | None  # sanitized
    text: str | None
    attachments: list[PreviewAttachment]
    size_bytes: int


def _content(part: EmailMessage) -> str:
    try:
        value = part.get_content()
    except (LookupError, ValueError, AssertionError):
        payload = part.get_payload(decode=True)
        value = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return value if isinstance(value, str) else ""


# Attributes that make a browser fetch a remote resource when the markup is shown.
REMOTE_FETCH_ATTRIBUTES = {("img", "src"), ("img", "srcset"), ("source", "srcset")}


def is_remote(url: str) -> bool:
    return not url.strip().lower().startswith(("data:", "cid:", "#"))


def sanitize_html(html: str, remote_images: bool = True) -> str:
    """Markup safe to show inside a sandboxed iframe: nh3's allow-list, links made inert
    for the referrer (`noopener noreferrer`). With `remote_images=False`, image sources
    that point anywhere but `data:` are dropped too (no tracking pixel fires)."""
    return sanitize_counting(html, remote_images)[0]


def sanitize_counting(html: str, remote_images: bool = True) -> tuple[str, int]:
    """`sanitize_html` and how many remote image sources it dropped."""
    dropped = 0

    def keep(tag: str, attribute: str, value: str) -> str | None:
        nonlocal dropped
        if (tag, attribute) in REMOTE_FETCH_ATTRIBUTES and is_remote(value):
            dropped += 1
            return None
        return value

    cleaned = nh3.clean(
        html[:MAX_PART_CHARS],
        link_rel="noopener noreferrer",
        attribute_filter=None if remote_images else keep,
    )
    return cleaned, dropped


def build_preview(mime: bytes) -> Preview:
    msg = BytesParser(policy=policy.default).parsebytes(mime)
    assert isinstance(msg, EmailMessage)
    headers = [(name, str(value)) for name, value in msg.items()]
    html: str | None = None
    text: str | None = None
    attachments: list[PreviewAttachment] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if part.is_attachment() or part.get_filename():
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            attachments.append(PreviewAttachment(part.get_filename() or "", ctype, size))
        elif ctype == "text/html" and html is None:
            html = sanitize_html(_content(part))
        elif ctype == "text/plain" and text is None:
            text = _content(part)[:MAX_PART_CHARS]
    return Preview(
        headers=headers,
        subject=str(msg.get("Subject", "")),
        html=html,
        text=text,
        attachments=attachments,
        size_bytes=len(mime),
    )
