"""What the hosted-provider compatible APIs (Resend, Postmark) share. Pure.

Their bodies are literal content, not Handlebars templates: `literal` wraps a text that
contains `{{` in a raw block so the renderer leaves it as it is, and `unliteral` takes the
wrapper off again for their read answers. Addresses come as `a@x.com` or `Name <a@x.com>`.
"""

import base64
import re
from collections.abc import Iterable
from email.utils import formataddr, getaddresses, parseaddr
from typing import Any

from iep_appliance.domain.models import Address, AttachmentIn, Sender, SendRequest

RAW_OPEN = "{{{{raw}}}}"
RAW_CLOSE = "{{{{/raw}}}}"

# A filename's extension → content type, for attachments that name none (no system lookup:
# `mimetypes` reads files at first use).
_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "svg": "image/svg+xml",
    "txt": "text/plain",
    "csv": "text/csv",
    "html": "text/html",
    "htm": "text/html",
    "ics": "text/calendar",
    "json": "application/json",
    "xml": "application/xml",
    "zip": "application/zip",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def literal(text: str | None) -> str | None:
    """`text` so that rendering gives it back unchanged (no variables in compat bodies)."""
    if text is None or "{{" not in text or RAW_CLOSE in text:
        return text
    return f"{RAW_OPEN}{text}{RAW_CLOSE}"


def unliteral(text: str | None) -> str | None:
    if text is not None and text.startswith(RAW_OPEN) and text.endswith(RAW_CLOSE):
        return text[len(RAW_OPEN) : -len(RAW_CLOSE)]
    return text


def bodies(html_body: str | None, text_body: str | None) -> tuple[str, str | None]:
    """(htmlBody, textBody) of the IEP send of a compat email with these bodies.

    The one place that decides what a text-only email becomes: as in the core API, a
    text-only email is one text/plain part (an empty htmlBody).
    """
    return html_body or "", text_body


# ---- custom headers (Resend's `headers`, Postmark's `Headers`) --------------------------------

_HEADER_NAME = re.compile(r"[!-9;-~]{1,76}")  # printable ASCII but ':' (RFC 5322 ftext)
# Headers IEP writes itself (DESIGN §5, §10.3): a custom header may not replace or repeat them.
RESERVED_HEADERS = frozenset(
    name.lower()
    for name in (
        "From", "Sender", "To", "Cc", "Bcc", "Reply-To", "Subject", "Date", "Message-ID",
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
        "DKIM-Signature", "Return-Path", "Received",
    )
)  # fmt: skip
MAX_HEADER_VALUE = 900  # one header line stays under 998 octets before folding


def header_problem(name: str, value: object) -> str | None:
    """Why `name: value` cannot be a custom header of a message, or None when it can."""
    if not isinstance(name, str) or _HEADER_NAME.fullmatch(name) is None:
        return "not a valid header name (printable ASCII without ':', at most 76 characters)"
    if not isinstance(value, str):
        return "must be a string"
    if "\r" in value or "\n" in value or "\0" in value:
        return "must not contain CR, LF or NUL"
    if len(value) > MAX_HEADER_VALUE:
        return f"at most {MAX_HEADER_VALUE} characters"
    low = name.lower()
    if low in RESERVED_HEADERS or low.startswith("x-iep-"):
        return f"{name} is set by IEP and cannot be given as a custom header"
    return None


def message_headers(origin: str, metadata: dict[str, object]) -> tuple[tuple[str, str], ...]:
    """The custom headers a message's MIME carries: those a Resend or Postmark email gave
    (kept as `metadata.headers`, checked when accepted). A native API message's metadata is
    free-form JSON and never becomes headers. Anything unfit is left out, never written."""
    if origin not in ("resend", "postmark"):
        return ()
    given = metadata.get("headers")
    if not isinstance(given, dict):
        return ()
    pairs: Iterable[tuple[object, object]] = given.items()
    return tuple(
        (name, value)
        for name, value in pairs
        if isinstance(name, str) and isinstance(value, str) and header_problem(name, value) is None
    )


def guess_type(filename: str) -> str:
    ext = filename.rpartition(".")[2].lower() if "." in filename else ""
    return _TYPES.get(ext, "application/octet-stream")


def split_mailbox(value: str) -> tuple[str, str | None]:
    """(`a@x.com`, `Name`) of `Name <a@x.com>`; (`value`, None) when it has no angle form."""
    text = value.strip()
    if "<" not in text:
        return text, None
    name, address = parseaddr(text)
    if not address:
        return text, None
    return address, (name or None)


def mailbox(email: str, name: str | None) -> str:
    return formataddr((name, email)) if name else email


def address_list(value: str | list[str] | None) -> list[Address]:
    """Bare addresses of a string (one address, or comma-separated) or a list of them."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    out: list[Address] = []
    for item in items:
        if "<" in item or "," in item:
            out.extend(addr or name for name, addr in getaddresses([item]) if addr or name)
        elif item.strip():
            out.append(item.strip())
    return out


def bytes_to_base64(content: str | list[int]) -> str:
    """Base64 of an attachment given as base64 text or as a list of byte values."""
    if isinstance(content, str):
        return "".join(content.split())
    if not all(isinstance(b, int) and 0 <= b <= 255 for b in content):
        raise ValueError("must be base64 text or a list of byte values 0-255")
    return base64.b64encode(bytes(content)).decode("ascii")


def send_request(
    sender: str | None,
    subject: str | None,
    body: tuple[str | None, str | None],
    recipients: tuple[list[Address], list[Address], list[Address]],
    reply_to: list[Address],
    attachments: list[AttachmentIn],
    metadata: dict[str, Any],
    **more: Any,
) -> SendRequest:
    """The IEP send of a hosted provider's email whose own checks passed: `body` is (HTML,
    text), `recipients` (to, cc, bcc), and no text is a template (`literal`)."""
    from_email, from_name = split_mailbox(sender or "")
    html, text = bodies(*body)
    to, cc, bcc = recipients
    return SendRequest(
        to=to,
        from_=Sender(email=from_email, name=from_name),
        subject=literal(subject or "") or "",
        html_body=literal(html) or "",
        text_body=literal(text),
        cc=cc,
        bcc=bcc,
        reply_to=reply_to[0] if reply_to else None,
        attachments=attachments,
        metadata=metadata,
        **more,
    )
