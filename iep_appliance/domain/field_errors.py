"""Every field error of a decodable body in one answer (DESIGN §10.1). Pure.

A decoder stops at the first member of the wrong type; a client fixing one field per round
trip deserves better. `type_errors` checks each member of a Struct body on its own (missing,
unknown, wrong type); `send_errors` adds what the send rules say about the members that did
decode, so `{"subject": 7, "cc": ["nope"]}` names `subject` and `cc[0]` together.
"""

from datetime import datetime
from typing import Any

import msgspec

from iep_appliance.domain.errors import FieldError, IEPError, ValidationFailed
from iep_appliance.domain.models import AttachmentLimits, SendRequest
from iep_appliance.domain.validation import decode_error_path, validate_send

# Stand-ins for required members that are missing or of the wrong type, so the rest of the
# request can still be checked; their own errors are already listed.
_SEND_STANDINS: dict[str, Any] = {
    "to": [],
    "from": "placeholder@example.invalid",
    "subject": "x",
    "htmlBody": "x",
}


def type_errors(data: Any, target: type[msgspec.Struct]) -> list[FieldError]:
    """Each missing, unknown or mistyped member of `data` (decoded JSON) for `target`."""
    if not isinstance(data, dict):
        return [FieldError("body", "must be a JSON object")]
    errors: list[FieldError] = []
    fields = msgspec.structs.fields(target)
    names = {f.encode_name for f in fields}
    for f in fields:
        if f.encode_name not in data:
            if f.required:
                errors.append(FieldError(f.encode_name, "is required"))
            continue
        try:
            msgspec.convert(data[f.encode_name], f.type, strict=False, str_keys=True)
        except msgspec.ValidationError as exc:
            errors.append(_at(f.encode_name, str(exc)))
    forbid = getattr(target, "__struct_config__", None)
    if forbid is not None and forbid.forbid_unknown_fields:
        errors.extend(
            FieldError(str(name), "is not a known field") for name in data if name not in names
        )
    return errors


def send_errors(data: Any, now: datetime) -> list[FieldError]:
    """`type_errors` for a send plus the send rules' 422s for the members that decoded.

    Tenant rules (attachment limits, sender domains) are left to the real accept: this runs
    only for a body that already failed, to name everything wrong with it at once."""
    errors = type_errors(data, SendRequest)
    if not errors or not isinstance(data, dict):
        return errors
    bad = {_root(e.path) for e in errors}
    known = {f.encode_name for f in msgspec.structs.fields(SendRequest)}
    patched = {k: v for k, v in data.items() if k in known and k not in bad}
    for name, standin in _SEND_STANDINS.items():
        patched.setdefault(name, standin)
    patched["attachments"] = []  # their types and sizes are the tenant's rules
    try:
        req = msgspec.convert(patched, SendRequest, strict=False, str_keys=True)
        validate_send(req, AttachmentLimits(), frozenset(), now)
    except ValidationFailed as exc:
        errors.extend(e for e in exc.errors if _root(e.path) not in bad)
    except (msgspec.ValidationError, IEPError):  # another verdict: the real accept's
        pass
    return errors


def _at(member: str, message: str) -> FieldError:
    """msgspec's message for one member's value, with the path under that member."""
    text, sep, where = message.rpartition(" - at `$")
    if not sep:
        return decode_error_path(f"{message} - at `$.{member}`")
    return decode_error_path(f"{text} - at `$.{member}{where}")


def _root(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]
