"""A TOML table into a config Struct, with one readable line per bad key (config.py's helper):
msgspec stops at the first problem and names it `$.b[0]`; this names `section.b`, and finds
the other bad keys of the table too."""

import msgspec

from iep_appliance.domain.decode_errors import read_decode_error

FRIENDLY = {
    "delivery.retry_schedule": "expected a list of positive integers",
    "webhooks.retry_schedule": "expected a list of positive integers",
}


def explain(section: str, message: str) -> str:
    """Turn msgspec's "Expected ... - at `$.b[0]`" into "section.b: expected ..."."""
    error = read_decode_error(message)
    at = error.at.split("[", 1)[0]
    key = f"{section}.{at}" if at else section
    if error.problem == "unknown":
        return f"{key}.{error.field}: unknown key"
    if error.problem == "missing":
        return f"{key}.{error.field}: required key is missing"
    return f"{key}: {FRIENDLY.get(key, error.text)}"


def convert(value: object, kind: type, section: str, problems: list[str]) -> object | None:
    """`value` as `kind`, or None with one problem per bad key (msgspec stops at the first,
    so on failure each key is converted alone to find the others)."""
    try:
        return msgspec.convert(value, kind, strict=True)
    except msgspec.ValidationError as exc:
        first = explain(section, str(exc))
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            try:
                msgspec.convert({key: item}, kind, strict=True)
            except msgspec.ValidationError as exc:
                line = explain(section, str(exc))
                if not line.endswith("required key is missing"):
                    found.append(line)
    problems.extend(found or [first])
    return None
