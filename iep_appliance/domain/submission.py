"""A message submitted as MIME (SMTP submission): checked, its facts read, made ready to send.

Pure: bytes in, a `PreparedRaw` out. The client's MIME is kept as sent, except that Bcc and
the `X-IEP-*` control headers (DESIGN §10.2) are removed and, when missing, a Message-ID and
a Date are added in front, with an `X-IEP-Message-Id` as on every message IEP builds.
The rules of a structured send apply (sender domain, recipients, attachment limits); each
failure is the same domain error the HTTP API raises, with a path saying what was wrong:
`mime` (line endings, line length, header syntax), `smtputf8` (8-bit headers without it),
`from`, `attachments`. Nothing here knows SMTP reply codes: submission/ maps them.
"""

import functools
import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from email import message_from_bytes
from email import policy as email_policy
from email.header import decode_header, make_header
from email.utils import format_datetime, getaddresses

import msgspec

from iep_appliance.domain.errors import (
    FieldError,
    PayloadTooLarge,
    SenderNotAllowed,
    ValidationFailed,
)
from iep_appliance.domain.models import AttachmentLimits
from iep_appliance.domain.validation import MAX_KEY, normalize_address

MAX_LINE = 998  # RFC 5322 §2.1.1, CRLF excluded
# `addr@domain` or `Name <addr@domain>` with nothing RFC 5322 would read otherwise (quotes,
# comments, groups, lists, encoded words): parsed here; anything else by email.utils.
_SIMPLE_MAILBOX = re.compile(
    r"\s*(?:([^\"(),:;<>@\[\]\\=]*?)\s*<([^\s\"(),:;<>\[\]\\]+)>|([^\s\"(),:;<>\[\]\\]+))\s*\Z"
)
# Headers removed before storing: Bcc (the envelope carries it) and the control headers.
CONTROL_HEADERS = ("x-iep-queue", "x-iep-category", "x-iep-tags", "x-iep-idempotency-key")
_STRIPPED = frozenset(("bcc", "x-iep-message-id", *CONTROL_HEADERS))
# A part is an attachment only by Content-Disposition or a (file)name parameter: without
# either anywhere, the full MIME parse of check_attachments is skipped (it is the slow part).
_MAYBE_ATTACHMENT = (b"content-disposition", b"name=", b"name*=")


class PreparedRaw(msgspec.Struct, frozen=True):
    """What the pipeline needs of a MIME submission; `mime` is what will be sent."""

    mime: bytes
    from_email: str
    from_name: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    reply_to: str | None
    subject: str
    queue: str | None
    category: str | None
    tags: tuple[str, ...]
    idempotency_key: str | None
    body_hash: str


def check_lines(raw: bytes) -> None:
    """CRLF line endings only and no line over 998 octets. Raises ValidationFailed."""
    crlf = raw.count(b"\r\n")
    # Counting is a C loop; a regex over 30 MB with look-arounds is not.
    if raw.count(b"\n") != crlf or raw.count(b"\r") != crlf:
        raise ValidationFailed(
            [FieldError("mime", "bare LF or CR: lines must end in CRLF (RFC 5322 §2.3)")]
        )
    if len(raw) > MAX_LINE and max(map(len, raw.split(b"\r\n"))) > MAX_LINE:
        raise ValidationFailed(
            [FieldError("mime", f"a line is longer than {MAX_LINE} octets (RFC 5322 §2.1.1)")]
        )


# One header field: a printable-ASCII name, a colon, the value with its folded lines.
_FIELD = re.compile(rb"([!-9;-~]+)[ \t]*:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*")
# The fields whose values are read; the rest are only kept or removed.
_READ = frozenset(("from", "to", "cc", "reply-to", "subject", "content-type", *CONTROL_HEADERS))


def split_fields(head: bytes) -> list[tuple[str, bytes]]:
    """(lower-cased name, the whole field with its folded lines and CRLF) of a header block."""
    fields: list[tuple[str, bytes]] = []
    at = 0
    for match in _FIELD.finditer(head):
        if match.start() != at:
            break
        fields.append((match.group(1).decode("ascii").lower(), match.group(0)))
        at = match.end()
    if at != len(head):
        raise ValidationFailed([FieldError("mime", "a header line is not `Name: value`")])
    return fields


def _value(field: bytes) -> str:
    text = field.partition(b":")[2].decode("utf-8", "surrogateescape")
    return " ".join(text.split())


@functools.lru_cache(maxsize=4)
def _date_header(second: datetime) -> bytes:
    """The Date added to a message without one; the same for every message of a second."""
    return f"Date: {format_datetime(second)}\r\n".encode()


def _decoded(value: str) -> str:
    if "=?" not in value:  # no RFC 2047 encoded word: the text as it is
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


@functools.lru_cache(maxsize=4096)
def _mailboxes(value: str) -> tuple[tuple[str, str], ...]:
    """(display name, address) of one header value; products repeat theirs (From)."""
    simple = _SIMPLE_MAILBOX.match(value)
    if simple is not None:
        name, angled, bare = simple.groups()
        return (((name or "").strip(), angled),) if angled else (("", bare),)
    return tuple((name, addr) for name, addr in getaddresses([value]) if addr)


def _addresses(values: Sequence[str]) -> list[tuple[str, str]]:
    return [mailbox for value in values for mailbox in _mailboxes(value)]


def prepare_raw(
    raw: bytes,
    rcpts: Sequence[str],
    *,
    smtputf8: bool,
    allowed_domains: frozenset[str],
    limits: AttachmentLimits,
    message_id: str,
    message_id_domain: str | None,
    date: datetime,
) -> PreparedRaw:
    """Check one submitted message and say what it is. Raises ValidationFailed,
    PayloadTooLarge or SenderNotAllowed (the From of another tenant's domain).
    `message_id_domain` None: an added Message-ID takes the sender's domain (§10.1)."""
    check_lines(raw)
    end = raw.find(b"\r\n\r\n")
    head, body = (raw, b"") if end < 0 else (raw[: end + 2], raw[end + 2 :])
    if raw.startswith(b"\r\n"):
        head, body = b"", raw
    if not smtputf8 and not head.isascii():
        raise ValidationFailed(
            [FieldError("smtputf8", "8-bit header text needs the SMTPUTF8 parameter")]
        )
    fields = split_fields(head)
    found: dict[str, list[str]] = {}
    for name, field in fields:
        found.setdefault(name, []).append(_value(field) if name in _READ else "")
    senders = _addresses(found.get("from", []))
    if not senders:
        raise ValidationFailed([FieldError("from", "the message has no From header")])
    from_name, from_raw = senders[0]
    try:
        from_email = normalize_address(from_raw)
    except ValueError as exc:
        raise ValidationFailed([FieldError("from", str(exc))]) from None
    domain = from_email.rpartition("@")[2].lower()
    if domain not in allowed_domains:
        raise SenderNotAllowed(domain)
    to, cc, bcc = _classify(rcpts, found)
    reply = _addresses(found.get("reply-to", []))
    category = _control(found, "x-iep-category")
    tags_text = _control(found, "x-iep-tags")
    tags = tuple(t.strip() for t in (tags_text or "").split(",") if t.strip())
    key = _control(found, "x-iep-idempotency-key")
    if key is not None and not 0 < len(key) <= MAX_KEY:
        raise ValidationFailed(
            [FieldError("idempotencyKey", f"X-IEP-Idempotency-Key must be 1-{MAX_KEY} characters")]
        )
    content_type = (found.get("content-type") or [""])[0].lower()
    if content_type.startswith("multipart/"):
        lowered = raw.lower()  # one C pass; a case-insensitive regex is ten times slower
        if any(marker in lowered for marker in _MAYBE_ATTACHMENT):
            check_attachments(raw, limits)
    added = [f"X-IEP-Message-Id: {message_id}\r\n".encode()]
    if "message-id" not in found:
        added.append(f"Message-ID: <{message_id}@{message_id_domain or domain}>\r\n".encode())
    if "date" not in found:
        added.append(_date_header(date.replace(microsecond=0)))
    kept = [field for name, field in fields if name not in _STRIPPED]
    mime = b"".join((*added, *kept, body))
    digest = hashlib.sha256()
    if key is not None:  # only an idempotency key compares bodies
        digest.update("\0".join(sorted(r.lower() for r in rcpts)).encode())
        digest.update(b"".join((*kept, body)))
    return PreparedRaw(
        mime=mime,
        from_email=from_email,
        from_name=_decoded(from_name) or None,
        to=to,
        cc=cc,
        bcc=bcc,
        reply_to=reply[0][1] if reply else None,
        subject=_decoded((found.get("subject") or [""])[0]),
        queue=_control(found, "x-iep-queue"),
        category=category,
        tags=tags,
        idempotency_key=key,
        body_hash=digest.hexdigest() if key is not None else "",
    )


def _control(found: dict[str, list[str]], name: str) -> str | None:
    values = found.get(name)
    return values[0].strip() or None if values else None


def _classify(
    rcpts: Sequence[str], found: dict[str, list[str]]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Envelope recipients as to / cc / bcc: named in To, else in Cc, else blind."""
    in_to = {a.lower() for _n, a in _addresses(found.get("to", []))}
    in_cc = {a.lower() for _n, a in _addresses(found.get("cc", []))}
    to: list[str] = []
    cc: list[str] = []
    bcc: list[str] = []
    for rcpt in rcpts:
        low = rcpt.lower()
        (to if low in in_to else cc if low in in_cc else bcc).append(rcpt)
    return tuple(to), tuple(cc), tuple(bcc)


def check_attachments(raw: bytes, limits: AttachmentLimits) -> None:
    """The tenant's attachment rules of a structured send, over the MIME's attachments."""
    message = message_from_bytes(raw, policy=email_policy.compat32)
    count = 0
    total = 0
    allowed = {t.lower() for t in limits.allowed_types}
    too_large: list[FieldError] = []
    errors: list[FieldError] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = (part.get("Content-Disposition") or "").split(";", 1)[0].strip().lower()
        if disposition != "attachment" and part.get_filename() is None:
            continue
        data = part.get_payload(decode=True) or b""
        i = count
        count += 1
        total += len(data)
        ctype = part.get_content_type().lower()
        if ctype not in allowed:
            errors.append(
                FieldError(f"attachments[{i}].contentType", f"type {ctype!r} is not allowed")
            )
        if len(data) > limits.max_file_bytes:
            too_large.append(
                FieldError(
                    f"attachments[{i}].content", f"larger than {limits.max_file_bytes} bytes"
                )
            )
    if count > limits.max_count:
        too_large.append(FieldError("attachments", f"at most {limits.max_count} attachments"))
    if total > limits.max_total_bytes:
        too_large.append(
            FieldError("attachments", f"total larger than {limits.max_total_bytes} bytes")
        )
    if errors:
        raise ValidationFailed(errors)
    if too_large:
        raise PayloadTooLarge(too_large)
