"""Validation of a send request against the tenant's rules. Pure: no I/O, `now` is passed.

Collects every field error before raising, so one 422 names them all. Order of
verdicts: malformed fields (422) → attachment sizes (413) → sender domain (403).
"""

import binascii
import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from email_validator import EmailNotValidError, validate_email

from iep_appliance.domain.errors import (
    FieldError,
    PayloadTooLarge,
    SenderNotAllowed,
    ValidationFailed,
)
from iep_appliance.domain.models import AttachmentLimits, Sender, SendRequest
from iep_appliance.domain.render import check_template

MAX_RECIPIENTS = 50
MAX_SUBJECT = 998
MAX_KEY = 255
MAX_SCHEDULE_AHEAD = timedelta(days=366)


class DecodedAttachment(msgspec.Struct, frozen=True):
    filename: str
    content_type: str
    data: bytes


class ValidSend(msgspec.Struct, frozen=True):
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    from_email: str
    from_name: str | None
    reply_to: str | None
    attachments: tuple[DecodedAttachment, ...]
    scheduled_at: datetime | None
    category: str | None


@functools.lru_cache(maxsize=65536)
def normalize_address(address: str) -> str:
    """The validated form of one address (RFC 5322 + IDNA, no DNS). Raises ValueError."""
    if not isinstance(address, str) or not address:
        raise ValueError("must be a non-empty email address")
    if any(c in address for c in "\r\n"):
        raise ValueError("must not contain CR or LF")
    try:
        info = validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return info.normalized


def suppression_key(address: str) -> str:
    """How suppressions compare addresses: case-insensitively."""
    return address.strip().lower()


def _has_crlf(value: str | None) -> bool:
    return value is not None and ("\r" in value or "\n" in value)


def check_addresses(
    field: str,
    values: Sequence[str],
    errors: list[FieldError],
    required: bool = False,
    normalize: Callable[[str], str] = normalize_address,
) -> tuple[str, ...]:
    """Validated addresses of one field; each bad one is an error naming `field[i]`."""
    if required and not values:
        errors.append(FieldError(field, "at least one recipient is required"))
    if len(values) > MAX_RECIPIENTS:
        errors.append(FieldError(field, f"at most {MAX_RECIPIENTS} addresses"))
    out = []
    for i, value in enumerate(values):
        try:
            out.append(normalize(value))
        except ValueError as exc:
            errors.append(FieldError(f"{field}[{i}]", str(exc)))
    return tuple(out)


def check_templates(fields: dict[str, str | None], errors: list[FieldError]) -> None:
    for path, source in fields.items():
        if source is None:
            continue
        problem = check_template(source)
        if problem is not None:
            errors.append(FieldError(path, f"not a valid Handlebars template: {problem}"))


def check_metadata(metadata: dict[str, Any], errors: list[FieldError]) -> str | None:
    category = metadata.get("category")
    if category is not None and not isinstance(category, str):
        errors.append(FieldError("metadata.category", "must be a string"))
        category = None
    tags = metadata.get("tags")
    if tags is not None and (
        not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
    ):
        errors.append(FieldError("metadata.tags", "must be a list of strings"))
    return category


def parse_schedule(value: str | None, now: datetime, errors: list[FieldError]) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        errors.append(FieldError("scheduledAt", "must be an ISO 8601 date-time with an offset"))
        return None
    if when.tzinfo is None:
        errors.append(FieldError("scheduledAt", "must include a UTC offset"))
        return None
    if when <= now:
        errors.append(FieldError("scheduledAt", "must be in the future"))
        return None
    if when - now > MAX_SCHEDULE_AHEAD:
        errors.append(FieldError("scheduledAt", "must be at most one year ahead"))
        return None
    return when


def check_attachments(
    items: list[Any], limits: AttachmentLimits, errors: list[FieldError]
) -> tuple[list[DecodedAttachment], list[FieldError]]:
    """Decode and check attachments. Returns (decoded, size errors for a 413)."""
    too_large: list[FieldError] = []
    decoded: list[DecodedAttachment] = []
    if len(items) > limits.max_count:
        too_large.append(FieldError("attachments", f"at most {limits.max_count} attachments"))
    if not items:
        return [], too_large
    allowed = {t.lower() for t in limits.allowed_types}
    total = 0
    for i, att in enumerate(items):
        base = f"attachments[{i}]"
        name = att.filename.strip()
        if not name or len(name) > 255:
            errors.append(FieldError(f"{base}.filename", "must be 1-255 characters"))
        elif _has_crlf(name) or "/" in name or "\\" in name or "\x00" in name:
            errors.append(
                FieldError(f"{base}.filename", "must not contain CR, LF, NUL or path separators")
            )
        ctype = att.content_type.split(";", 1)[0].strip().lower()
        if _has_crlf(att.content_type):
            errors.append(FieldError(f"{base}.contentType", "must not contain CR or LF"))
        elif ctype not in allowed:
            errors.append(FieldError(f"{base}.contentType", f"type {ctype!r} is not allowed"))
        try:
            data = binascii.a2b_base64(att.content, strict_mode=True)
        except (binascii.Error, ValueError):
            errors.append(FieldError(f"{base}.content", "must be valid base64"))
            continue
        if len(data) > limits.max_file_bytes:
            too_large.append(
                FieldError(f"{base}.content", f"larger than {limits.max_file_bytes} bytes")
            )
        total += len(data)
        decoded.append(DecodedAttachment(filename=name, content_type=ctype, data=data))
    if total > limits.max_total_bytes:
        too_large.append(
            FieldError("attachments", f"total larger than {limits.max_total_bytes} bytes")
        )
    return decoded, too_large


def sender_of(req: SendRequest) -> tuple[str, str | None]:
    if isinstance(req.from_, Sender):
        return req.from_.email, req.from_.name
    return req.from_, None


def validate_send(
    req: SendRequest,
    limits: AttachmentLimits,
    allowed_domains: frozenset[str],
    now: datetime,
    prefix: str = "",
) -> ValidSend:
    """Check everything about one send. Raises ValidationFailed, PayloadTooLarge or
    SenderNotAllowed; `prefix` is prepended to field paths (batch recipients)."""
    errors: list[FieldError] = []
    to = check_addresses("to", req.to, errors, required=True)
    cc = check_addresses("cc", req.cc, errors)
    bcc = check_addresses("bcc", req.bcc, errors)
    common, too_large = check_common(req, limits, now, errors)
    if errors:
        raise ValidationFailed(_prefixed(errors, prefix))
    if too_large:
        raise PayloadTooLarge(_prefixed(too_large, prefix))
    domain = common.from_email.rpartition("@")[2].lower()
    if domain not in allowed_domains:
        raise SenderNotAllowed(domain)
    return ValidSend(
        to=to,
        cc=cc,
        bcc=bcc,
        from_email=common.from_email,
        from_name=common.from_name,
        reply_to=common.reply_to,
        attachments=common.attachments,
        scheduled_at=common.scheduled_at,
        category=common.category,
    )


class CommonFields(msgspec.Struct, frozen=True):
    """The checked fields a single send and a batch have in common."""

    from_email: str
    from_name: str | None
    reply_to: str | None
    attachments: tuple[DecodedAttachment, ...]
    scheduled_at: datetime | None
    category: str | None


def check_common(
    req: Any, limits: AttachmentLimits, now: datetime, errors: list[FieldError]
) -> tuple[CommonFields, list[FieldError]]:
    """Check sender, reply-to, subject, bodies, idempotency key, templates, metadata, schedule
    and attachments of a send or a batch (both have these fields). Appends 422 errors to
    `errors`; returns the checked fields and the size errors for a 413."""
    from_email_raw, from_name = sender_of(req)
    from_email = ""
    try:
        from_email = normalize_address(from_email_raw)
    except ValueError as exc:
        errors.append(FieldError("from.email", str(exc)))
    if _has_crlf(from_name):
        errors.append(FieldError("from.name", "must not contain CR or LF"))
    reply_to = None
    if req.reply_to is not None:
        try:
            reply_to = normalize_address(req.reply_to)
        except ValueError as exc:
            errors.append(FieldError("replyTo", str(exc)))
    if _has_crlf(req.subject):
        errors.append(FieldError("subject", "must not contain CR or LF"))
    elif not req.subject.strip():
        errors.append(FieldError("subject", "must not be empty"))
    elif len(req.subject) > MAX_SUBJECT:
        errors.append(FieldError("subject", f"at most {MAX_SUBJECT} characters"))
    if not req.html_body.strip() and not (req.text_body or "").strip():
        errors.append(FieldError("htmlBody", "htmlBody or textBody is required (not empty)"))
    if req.idempotency_key is not None and not (0 < len(req.idempotency_key) <= MAX_KEY):
        errors.append(FieldError("idempotencyKey", f"must be 1-{MAX_KEY} characters"))
    check_templates(
        {"subject": req.subject, "htmlBody": req.html_body, "textBody": req.text_body}, errors
    )
    category = check_metadata(req.metadata, errors)
    scheduled = parse_schedule(req.scheduled_at, now, errors)
    decoded, too_large = check_attachments(req.attachments, limits, errors)
    fields = CommonFields(
        from_email=from_email,
        from_name=from_name,
        reply_to=reply_to,
        attachments=tuple(decoded),
        scheduled_at=scheduled,
        category=category,
    )
    return fields, too_large


def _prefixed(errors: list[FieldError], prefix: str) -> list[FieldError]:
    if not prefix:
        return errors
    return [FieldError(f"{prefix}{e.path}", e.message) for e in errors]


def decode_error_path(message: str) -> FieldError:
    """msgspec's "Expected `str`, got `int` - at `$.to[0]`" → FieldError("to[0]", ...)."""
    text, sep, where = message.rpartition(" - at `")
    if not sep:
        text, where = message, "$`"
    path = where.rstrip("`").removeprefix("$").lstrip(".")
    text = text[:1].lower() + text[1:]
    for lead in ("object missing required field", "object contains unknown field"):
        if text.startswith(lead) and "`" in text:
            field = text.split("`")[1]
            path = f"{path}.{field}" if path else field
            text = "is required" if "missing" in lead else "is not a known field"
    return FieldError(path or "body", text)


def whole_number(text: str, max_digits: int = 18) -> int | None:
    """`text` as a non-negative integer when it is 1 to `max_digits` ASCII digits, else None.

    `str.isdigit()` alone also accepts "²" (int() then raises) and numbers past SQLite's
    64-bit integers (binding them raises): both were 500s on bad input."""
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None
