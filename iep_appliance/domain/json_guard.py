"""What a JSON request body must be before any decoder sees it (DESIGN §10.1). Pure.

UTF-8, nesting at most `MAX_DEPTH` deep, no NUL in any string (or member name). Each check
is paid in full only when a cheap C-speed scan says it could fail: most bodies carry fewer
than 64 brackets and no `\\u0000`, so the hot path pays a decode and three `bytes.count`s
(a Handlebars `{{x}}` is never structure).
A body that is not JSON at all passes: the decoder behind names that (400 "Malformed JSON").
"""

import re
from typing import Any

import msgspec

from iep_appliance.domain.errors import FieldError

MAX_DEPTH = 64
# A JSON string (escapes included): stripped before counting brackets, as `{{name}}` in a
# template is text, not structure.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_OPEN = frozenset(b"[{")


class BodyRefused(msgspec.Struct, frozen=True):
    status: int  # 400: not acceptable as JSON at all; 422: a field holds a NUL
    detail: str
    errors: list[FieldError]


def check_body(body: bytes) -> BodyRefused | None:
    """Why `body` is refused before decoding, or None when the decoder may have it."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BodyRefused(
            400,
            "The request body is not valid UTF-8",
            [FieldError("body", f"not valid UTF-8 (byte {exc.start})")],
        )
    if _openers_bound(body) > MAX_DEPTH and depth_of(body) > MAX_DEPTH:
        return BodyRefused(
            400,
            f"The JSON body is nested deeper than {MAX_DEPTH} levels",
            [FieldError("body", f"nested deeper than {MAX_DEPTH} levels")],
        )
    if b"\\u0000" in body:
        try:
            decoded = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return None  # malformed: the decoder behind says so
        paths = nul_paths(decoded)
        if paths:
            return BodyRefused(
                422,
                "A field holds a NUL character",
                [FieldError(path, "must not contain a NUL character") for path in paths],
            )
    return None


def _openers_bound(body: bytes) -> int:
    """At least the number of `[` and `{` outside strings, counted at C speed. `{{` cannot be
    structure in valid JSON (a member name must follow `{`), so each one, as in a Handlebars
    `{{name}}`, is text; a body that is not valid JSON anyway fails in the decoder, which
    meets it at its first `{{`, never nested deeper than the brackets counted."""
    return body.count(b"[") + body.count(b"{") - 2 * body.count(b"{{")


def depth_of(body: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (strings skipped)."""
    deepest = depth = 0
    for bracket in _BRACKETS.findall(_STRING.sub(b'""', body)):
        if bracket[0] in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def nul_paths(value: Any, path: str = "") -> list[str]:
    """Paths (`to[0]`, `from.name`, `variables.x`) of every string holding a NUL."""
    found: list[str] = []
    if isinstance(value, str):
        if "\x00" in value:
            found.append(path or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                found.append(inner.replace("\x00", "\\u0000"))
            else:
                found.extend(nul_paths(item, inner))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(nul_paths(item, f"{path}[{index}]"))
    return found
