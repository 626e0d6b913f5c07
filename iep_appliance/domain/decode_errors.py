"""msgspec's validation messages read once: where the bad value is, and what is wrong. Pure.

msgspec says "Expected `int`, got `str` - at `$.to[0]`", "Object missing required field
`from` - at `$.x`", "Object contains unknown field `bogus`". The API turns that into a
FieldError (`domain.validation.decode_error_path`), the config loader into a line naming the
key (`config_convert.explain`); both read it here.
"""

from typing import Literal, NamedTuple

DecodeProblem = Literal["missing", "unknown", "invalid"]


class DecodeError(NamedTuple):
    at: str  # where msgspec stopped: "to[0]", "from", "" for the whole value
    problem: DecodeProblem
    field: str | None  # the member that is missing or unknown (under `at`)
    text: str  # msgspec's text with a lower-case first letter: "expected `int`, got `str`"

    @property
    def path(self) -> str:
        """`at` with the missing or unknown member: "from.email", "to[0]"."""
        if self.field is None:
            return self.at
        return f"{self.at}.{self.field}" if self.at else self.field


_LEADS: dict[str, DecodeProblem] = {
    "object missing required field": "missing",
    "object contains unknown field": "unknown",
}


def read_decode_error(message: str) -> DecodeError:
    """The parts of one msgspec ValidationError message."""
    text, sep, where = message.rpartition(" - at `")
    if not sep:
        text, where = message, "$`"
    at = where.rstrip("`").removeprefix("$").lstrip(".")
    text = text[:1].lower() + text[1:]
    for lead, problem in _LEADS.items():
        if text.startswith(lead) and "`" in text:
            return DecodeError(at, problem, text.split("`")[1], text)
    return DecodeError(at, "invalid", None, text)
