"""Validation of a send request against the tenant's rules. Pure: no I/O, `now` is passed.

Collects every field error before raising, so one 422 names them all. Order of
verdicts: malformed fields (422) → attachment sizes (413) → sender domain (403).
"""

import binascii
import functools
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from email_validator import EmailNotValidError, validate_email

from iep_appliance.domain.decode_errors import read_decode_error
from iep_appliance.domain.errors import (
    FieldError,
    PayloadTooLarge,
    SenderNotAllowed,
    ValidationFailed,
)
from iep_appliance.domain.models import Address, AttachmentLimits, Sender, SendRequest
from iep_appliance.domain.render import DEFAULT_LIMITS, check_template, variables_depth_exceeds
from iep_appliance.domain.templates import check_subject_and_bodies

MAX_RECIPIENTS = 50
MAX_KEY = 255
MAX_SCHEDULE_AHEAD = timedelta(days=366)
MAX_DISPLAY_NAME = 256
# `Name <a@x>` or `"Quoted, Name" <a@x>` (RFC 5322 §3.4 name-addr, without comments).
_NAME_ADDR = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^<>"]*?))\s*<([^<>]*)>\s*', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_ADDRESS_FORMS = 'must be "a@x.com", "Name <a@x.com>" or {"email": ..., "name": ...}'


class DecodedAttachment(msgspec.Struct, frozen=True):
    filename: str
    content_type: str
    data: bytes


class CommonFields(msgspec.Struct, frozen=True):
    """The checked fields a single send and a batch have in common."""

    from_email: str
    from_name: str | None
    reply_to: str | None
    attachments: tuple[DecodedAttachment, ...]
    scheduled_at: datetime | None
    category: str | None
    reply_to_name: str | None = None


class ValidSend(CommonFields, frozen=True, kw_only=True):
    """A checked single send: the common fields and its recipients."""

    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    names: dict[str, str] = {}  # {lower-cased address: display name} of recipients, Reply-To


def with_reply_to_name(names: dict[str, str], common: CommonFields) -> dict[str, str]:
    """The display names of a message: its recipients' and its Reply-To's."""
    if common.reply_to is None or common.reply_to_name is None:
        return names
    return {**names, common.reply_to.lower(): common.reply_to_name}


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


def split_address(value: Address) -> tuple[str, str | None]:
    """(address, display name) of `"a@x.com"`, `"Name <a@x.com>"` or `{"email", "name"}`.

    The address is not validated here (normalize_address does that). Raises ValueError for a
    string with angle brackets that is not a name-addr."""
    if isinstance(value, Sender):
        return value.email, value.name or None
    if "<" not in value and ">" not in value:
        return value, None
    found = _NAME_ADDR.fullmatch(value)
    if found is None:
        raise ValueError(_ADDRESS_FORMS)
    quoted, bare, address = found.groups()
    name = _QUOTED_PAIR.sub(r"\1", quoted) if quoted is not None else bare.strip()
    return address.strip(), name or None


def check_display_name(name: str | None) -> str | None:
    """Why a display name is refused, or None."""
    if name is None:
        return None
    if _has_crlf(name):
        return "display name must not contain CR or LF"
    if len(name) > MAX_DISPLAY_NAME:
        return f"display name of at most {MAX_DISPLAY_NAME} characters"
    return None


def suppression_key(address: str) -> str:
    """How suppressions compare addresses: case-insensitively."""
    return address.strip().lower()


def _has_crlf(value: str | None) -> bool:
    return value is not None and ("\r" in value or "\n" in value)


def check_addresses(
    field: str,
    values: Sequence[Address],
    errors: list[FieldError],
    required: bool = False,
    normalize: Callable[[str], str] = normalize_address,
    names: dict[str, str] | None = None,
) -> tuple[str, ...]:
    """Validated addresses of one field; each bad one is an error naming `field[i]`. Display
    names go into `names` ({lower-cased address: name})."""
    if required and not values:
        errors.append(FieldError(field, "at least one recipient is required"))
    if len(values) > MAX_RECIPIENTS:
        errors.append(FieldError(field, f"at most {MAX_RECIPIENTS} addresses"))
    out = []
    for i, value in enumerate(values):
        try:
            if isinstance(value, str) and "<" not in value:  # the common case: a bare address
                out.append(normalize(value))
                continue
            address, name = split_address(value)
            normalized = normalize(address)
        except ValueError as exc:
            errors.append(FieldError(f"{field}[{i}]", str(exc)))
            continue
        problem = check_display_name(name)
        if problem is not None:
            errors.append(FieldError(f"{field}[{i}]", problem))
            continue
        if name is not None and names is not None:
            names[normalized.lower()] = name
        out.append(normalized)
    return tuple(out)


DEFAULT_MAX_VARIABLE_DEPTH = DEFAULT_LIMITS.max_variable_depth


def check_variables(
    field: str, variables: object, max_depth: int, errors: list[FieldError]
) -> None:
    """`variables` may nest objects and lists at most `max_depth` deep (`[render]`)."""
    if variables_depth_exceeds(variables, max_depth):
        errors.append(FieldError(field, f"nested deeper than {max_depth} levels"))


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
    """(address, name) of `from`. Raises ValueError for a malformed `"Name <a@x>"`."""
    return split_address(req.from_)


def validate_send(
    req: SendRequest,
    limits: AttachmentLimits,
    allowed_domains: frozenset[str],
    now: datetime,
    prefix: str = "",
    max_variable_depth: int = DEFAULT_MAX_VARIABLE_DEPTH,
) -> ValidSend:
    """Check everything about one send. Raises ValidationFailed, PayloadTooLarge or
    SenderNotAllowed; `prefix` is prepended to field paths (batch recipients)."""
    errors: list[FieldError] = []
    names: dict[str, str] = {}
    to = check_addresses("to", req.to, errors, required=True, names=names)
    cc = check_addresses("cc", req.cc, errors, names=names)
    bcc = check_addresses("bcc", req.bcc, errors, names=names)
    common, too_large = check_common(req, limits, now, errors, max_variable_depth)
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
        names=with_reply_to_name(names, common),
        **msgspec.structs.asdict(common),
    )


def check_common(
    req: Any,
    limits: AttachmentLimits,
    now: datetime,
    errors: list[FieldError],
    max_variable_depth: int = DEFAULT_MAX_VARIABLE_DEPTH,
) -> tuple[CommonFields, list[FieldError]]:
    """Check sender, reply-to, subject, bodies, idempotency key, templates, metadata, schedule
    and attachments of a send or a batch (both have these fields). Appends 422 errors to
    `errors`; returns the checked fields and the size errors for a 413."""
    from_email = ""
    from_name = None
    try:
        from_email_raw, from_name = sender_of(req)
        from_email = normalize_address(from_email_raw)
    except ValueError as exc:
        errors.append(FieldError("from.email", str(exc)))
    if _has_crlf(from_name):
        errors.append(FieldError("from.name", "must not contain CR or LF"))
    elif (problem := check_display_name(from_name)) is not None:
        errors.append(FieldError("from.name", problem))
    reply_to = reply_to_name = None
    if req.reply_to is not None:
        try:
            reply_to_raw, reply_to_name = split_address(req.reply_to)
            reply_to = normalize_address(reply_to_raw)
        except ValueError as exc:
            errors.append(FieldError("replyTo", str(exc)))
        if (problem := check_display_name(reply_to_name)) is not None:
            errors.append(FieldError("replyTo", problem))
    check_subject_and_bodies(req.subject, req.html_body, req.text_body, errors)
    if req.idempotency_key is not None and not (0 < len(req.idempotency_key) <= MAX_KEY):
        errors.append(FieldError("idempotencyKey", f"must be 1-{MAX_KEY} characters"))
    check_templates(
        {"subject": req.subject, "htmlBody": req.html_body, "textBody": req.text_body}, errors
    )
    check_variables("variables", req.variables, max_variable_depth, errors)
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
        reply_to_name=reply_to_name,
    )
    return fields, too_large


def _prefixed(errors: list[FieldError], prefix: str) -> list[FieldError]:
    if not prefix:
        return errors
    return [FieldError(f"{prefix}{e.path}", e.message) for e in errors]


def decode_error_path(message: str) -> FieldError:
    """msgspec's "Expected `str`, got `int` - at `$.to[0]`" → FieldError("to[0]", ...)."""
    error = read_decode_error(message)
    text = {"missing": "is required", "unknown": "is not a known field"}.get(
        error.problem, error.text
    )
    return FieldError(error.path or "body", text)


def whole_number(text: str, max_digits: int = 18) -> int | None:
    """`text` as a non-negative integer when it is 1 to `max_digits` ASCII digits, else None.

    `str.isdigit()` alone also accepts "²" (int() then raises) and numbers past SQLite's
    64-bit integers (binding them raises): both were 500s on bad input."""
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None
