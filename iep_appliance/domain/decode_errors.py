"""The parts of a msgspec decode error message: one parser for the API's field errors
(domain/validation.py) and the config file's problems (config.py)."""

MISSING_FIELD = "object missing required field"
UNKNOWN_FIELD = "object contains unknown field"


def parse_decode_error(message: str) -> tuple[str, str, str | None]:
    """msgspec's "Expected `str`, got `int` - at `$.to[0]`" as (path, text, member):
    ("to[0]", "expected `str`, got `int`", None). `member` is the field a MISSING_FIELD or
    UNKNOWN_FIELD message names (text then starts with that lead), else None."""
    text, sep, where = message.rpartition(" - at `")
    if not sep:
        text, where = message, "$`"
    path = where.rstrip("`").removeprefix("$").lstrip(".")
    text = text[:1].lower() + text[1:]
    member = None
    if text.startswith((MISSING_FIELD, UNKNOWN_FIELD)) and "`" in text:
        member = text.split("`")[1]
    return path, text, member
