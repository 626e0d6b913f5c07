"""What a product's test suite reads of a kept message: headers, HTML, text, attachments.

Pure: the MIME the outbox provider kept in, a parsed view out (stdlib `email`, no I/O).
"""

from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage, MIMEPart

import msgspec


class OutboxFilter(msgspec.Struct, frozen=True):
    """GET /v1/outbox: a recipient (to, cc or bcc), a subject substring, kept since."""

    to: str | None = None
    subject: str | None = None
    since: str | None = None
    limit: int = 50
    after: tuple[str, str] | None = None  # (created_at, message_id) of the last item seen


class OutboxEntry(msgspec.Struct, frozen=True):
    """One message the outbox provider kept, with what a list shows of it."""

    message_id: str
    created_at: str
    size_bytes: int
    subject: str
    from_email: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]


class OutboxAttachment(msgspec.Struct, frozen=True):
    filename: str | None
    content_type: str
    size_bytes: int


class ParsedMime(msgspec.Struct, frozen=True):
    headers: list[tuple[str, str]]  # (name, decoded value), in order, repeated names kept
    html: str | None
    text: str | None
    attachments: list[OutboxAttachment]


def _content(part: MIMEPart | None) -> str | None:
    if part is None:
        return None
    try:
        value = part.get_content()
    except (LookupError, ValueError, AssertionError):  # an unknown charset, a broken part
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else None
    return value if isinstance(value, str) else None


def parse_mime(mime: bytes) -> ParsedMime:
    message = message_from_bytes(mime, policy=email_policy.default)
    assert isinstance(message, EmailMessage)
    headers = [(name, str(value)) for name, value in message.items()]
    attachments = []
    for part in message.iter_attachments() if message.is_multipart() else ():
        data = part.get_payload(decode=True)
        attachments.append(
            OutboxAttachment(
                filename=part.get_filename(),
                content_type=part.get_content_type(),
                size_bytes=len(data) if isinstance(data, bytes) else 0,
            )
        )
    return ParsedMime(
        headers=headers,
        html=_content(message.get_body(preferencelist=("html",))),
        text=_content(message.get_body(preferencelist=("plain",))),
        attachments=attachments,
    )
