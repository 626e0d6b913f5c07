"""The opaque `cursor` of every paged list (API and dashboard): the sort key of the last item
seen, e.g. (created_at, id), as URL-safe base64 of a JSON list of strings, unpadded.

Example:
    cursor = encode_cursor(last.created_at, last.id)
    created_at, item_id = decode_cursor(cursor)
"""

import base64

import msgspec

from iep_appliance.domain.errors import FieldError, ValidationFailed

_encoder = msgspec.json.Encoder()


def encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode(_encoder.encode(list(parts))).decode().rstrip("=")


def decode_cursor(cursor: str, n: int = 2) -> tuple[str, ...]:
    """The `n` parts of a cursor. Raises ValidationFailed naming `cursor` for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = msgspec.json.decode(base64.urlsafe_b64decode(padded), type=list[str])
    except (ValueError, msgspec.DecodeError):
        raise ValidationFailed([FieldError("cursor", "not a valid cursor")]) from None
    if len(parts) != n:
        raise ValidationFailed([FieldError("cursor", "not a valid cursor")])
    return tuple(parts)


def decode_pair(cursor: str | None) -> tuple[str, str] | None:
    """A two-part cursor as the (sort key, id) pair a store verb takes; None for no cursor."""
    if not cursor:
        return None
    first, second = decode_cursor(cursor)
    return first, second
