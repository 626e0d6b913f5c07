"""Handlebars rendering of a message's subject, HTML and text (DESIGN §5, §10.1), over pybars3.

Owns the escaping rules, the header-safety of the rendered subject and the limits of a render:
lookups resolve dict keys and list indexes only, and the work, the output and the depth of the
variables are bounded (`RenderLimits`; the runtime is `domain/handlebars.py`). Pure: no I/O and
no clock; a failure is a `RenderError` carrying the renderer's message, a limit a
`RenderLimitExceeded` naming it.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping
from typing import Any, TypeVar

import html2text
import msgspec
from pybars import strlist

from iep_appliance.domain.handlebars import Budget, LimitExceeded, compile_template, run

__all__ = [
    "RenderError",
    "RenderLimitExceeded",
    "RenderLimits",
    "Rendered",
    "check_template",
    "html_to_text",
    "render",
    "variables_depth_exceeds",
]

_CRLF_RUN = re.compile(r"[\r\n]+")
# html2text converts ~300 KB/s here (measured: 0.7 ms for 110 chars, 31 ms for 8 KB): HTML
# longer than this, not converted before, would hold the loop for over a few ms, so an inline
# render (one with `slice_steps`) stops and says so, to be redone off the event loop.
HTML_TO_TEXT_INLINE_CHARS = 1_000


class RenderError(Exception):
    """A template failed to compile or to render; `str()` is the renderer's message."""


class RenderLimitExceeded(RenderError):
    """Over a limit of `RenderLimits`: `limit` names it, `str()` is "render limit: … exceeded".

    `deferred`: only the inline slice ran out; the render may succeed off the event loop."""

    def __init__(self, limit: str, value: int, deferred: bool = False) -> None:
        super().__init__(f"render limit: {limit} {value} exceeded")
        self.limit = limit
        self.value = value
        self.deferred = deferred


class RenderLimits(msgspec.Struct, frozen=True):
    """Per message: steps (blocks entered, paths resolved, `#each` items) of all three parts
    together, bytes of the three rendered parts together, nesting depth of `variables`."""

    max_steps: int = 100_000
    max_output_bytes: int = 5_000_000
    max_variable_depth: int = 32


class Rendered(msgspec.Struct, frozen=True):
    subject: str
    html: str
    text: str


def variables_depth_exceeds(value: object, limit: int) -> bool:
    """True when `value` nests containers deeper than `limit` (`{"a": 1}` is depth 1).

    Iterative, so a value nested far deeper than Python's recursion limit is judged too."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


# Block helpers that mean nothing without an argument (`{{#if}}` compiles in pybars, renders "").
_NEEDS_ARGUMENT = frozenset({"if", "unless", "each", "with"})


def _structure_error(source: str) -> str | None:
    """What pybars3 lets through but Handlebars refuses: an unterminated `{{`, an empty
    expression, a block that is never closed or closed by the wrong name, a stray `{{/x}}` or
    `{{else}}`, and `#if`/`#unless`/`#each`/`#with` without an argument."""
    stack: list[tuple[str, int]] = []
    i = 0
    while (start := source.find("{{", i)) >= 0:
        if start > 0 and source[start - 1] == "\\":  # `\{{` is a literal in Handlebars
            i = start + 2
            continue
        if source.startswith("{{!--", start):
            end = source.find("--}}", start + 5)
            if end < 0:
                return f"Error at character {start}: comment is never closed"
            i = end + 4
            continue
        triple = source.startswith("{{{", start)
        end = source.find("}}}" if triple else "}}", start + 2)
        if end < 0:
            return f"Error at character {start}: '{source[start : start + 3]}' is never closed"
        body = source[start + (3 if triple else 2) : end].strip().strip("~").strip()
        i = end + (3 if triple else 2)
        if body.startswith("!"):
            continue
        if not body:
            return f"Error at character {start}: empty expression"
        if body[0] in "#^" and body[1:].strip():
            name, *args = body[1:].split()
            if name in _NEEDS_ARGUMENT and not args:
                return f"Error at character {start}: {{{{#{name}}}}} needs an argument"
            stack.append((name, start))
        elif body[0] == "/":
            name = body[1:].strip()
            if not stack:
                return f"Error at character {start}: {{{{/{name}}}}} closes no open block"
            opened, _ = stack.pop()
            if opened != name:
                closes = f"{{{{/{name}}}}} does not close {{{{#{opened}}}}}"
                return f"Error at character {start}: {closes}"
        elif (body == "^" or body.split()[0] == "else") and not stack:
            return f"Error at character {start}: {{{{{body}}}}} is outside a block"
    if stack:
        name, start = stack[-1]
        return f"Error at character {start}: {{{{#{name}}}}} is never closed"
    return None


@functools.lru_cache(maxsize=1024)
def _compile(source: str) -> tuple[Any, str | None]:
    """Compile once per distinct template text; errors are cached too (compiling costs ~25 ms)."""
    template, error = compile_template(source)
    if template is None:
        return None, error
    problem = _structure_error(source)
    if problem is not None:
        return None, problem
    return template, None


def check_template(source: str) -> str | None:
    """Return the parser's error message if `source` does not compile, else None."""
    if "{{" not in source:
        return None
    return _compile(source)[1]


def _unescaped(value: object) -> object:
    """Wrap every non-empty string so pybars emits it verbatim (it never escapes a `strlist`)."""
    if isinstance(value, str):
        return strlist([value]) if value else value
    if isinstance(value, Mapping):
        return {key: _unescaped(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_unescaped(item) for item in value]
    return value


def _render_one(source: str, variables: Mapping[str, Any], budget: Budget) -> str:
    if "{{" not in source:
        return source
    template, error = _compile(source)
    if template is None:
        raise RenderError(error)
    try:
        return run(template, variables, budget)
    except LimitExceeded as exc:
        raise RenderLimitExceeded(exc.limit, exc.value, exc.deferred) from None
    except RecursionError:
        raise RenderError("template nests too deeply") from None
    except Exception as exc:  # a missing helper or partial, or a helper that raised
        raise RenderError(str(exc) or type(exc).__name__) from exc


def html_to_text(html: str) -> str:
    """Plain-text alternative of an HTML body: links kept as `[text](url)`, no line wrapping."""
    converter = html2text.HTML2Text(bodywidth=0)
    converter.ignore_links = False
    converter.ignore_images = True
    return converter.handle(html)


_MUSTACHE = re.compile(r"\{\{\{?.*?\}\}\}?", re.DOTALL)
_TOKEN = "IEPTPL{:06d}X"
_TOKEN_RE = re.compile(r"IEPTPL(\d{6})X")


_V = TypeVar("_V")


class _Converted(dict[str, _V]):
    """A bounded cache of html2text results by input text, that can say what it holds (an
    inline render converts only what is cached or short; `lru_cache` cannot tell)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self._lock = threading.Lock()  # the render thread and the event loop both fill it

    def remember(self, key: str, value: _V) -> _V:
        with self._lock:
            if len(self) >= self.size:
                self.pop(next(iter(self)), None)
            self[key] = value
        return value


_TEXT_TEMPLATES: _Converted[str | None] = _Converted(1024)
_STATIC_TEXTS: _Converted[str] = _Converted(256)


def _converts_inline(html: str, cache: _Converted[Any]) -> bool:
    return len(html) <= HTML_TO_TEXT_INLINE_CHARS or html in cache


def text_template_of(html: str) -> str | None:
    """Cached `_text_template_of`."""
    if html in _TEXT_TEMPLATES:
        return _TEXT_TEMPLATES[html]
    return _TEXT_TEMPLATES.remember(html, _text_template_of(html))


def _text_template_of(html: str) -> str | None:
    """A text *template* derived once from an HTML template, or None when that is unsafe.

    html2text costs ~3 ms per message, so converting each rendered HTML body would cap
    delivery near 300 msgs/s. Instead every `{{…}}` expression is swapped for an inert token,
    the template is converted once (cached by its text), and the tokens are put back; the
    result is rendered with raw values like a caller's textBody. Unsafe cases fall back to
    converting the rendered HTML: triple-stash (raw HTML values), or a block expression
    (`{{#…}}`, `{{/…}}`, `{{else}}`, `{{^…}}`) that html2text dropped or moved into a place
    where the result no longer compiles.
    """
    if "{{{" in html:
        return None
    expressions: list[str] = []

    def protect(match: re.Match[str]) -> str:
        expressions.append(match.group(0))
        return _TOKEN.format(len(expressions) - 1)

    converted = html_to_text(_MUSTACHE.sub(protect, html))
    seen: set[int] = set()

    def restore(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(expressions):
            return match.group(0)
        seen.add(index)
        return expressions[index]

    text = _TOKEN_RE.sub(restore, converted)
    for index, expr in enumerate(expressions):
        inner = expr[2:3]
        if index not in seen and (inner in "#/^" or expr.startswith("{{else")):
            return None
    if check_template(text) is not None:
        return None
    return text


DEFAULT_LIMITS = RenderLimits()


def render(
    subject: str,
    html: str,
    text: str | None,
    variables: Mapping[str, Any],
    limits: RenderLimits = DEFAULT_LIMITS,
    slice_steps: int | None = None,
) -> Rendered:
    """Render the three parts of a message with the same variables, within `limits`.

    `{{x}}` HTML-escapes and `{{{x}}}` does not, in the HTML body. Subject and text are not
    HTML, so there `{{x}}` inserts the value as is (as Postmark does): "O'Brien & Co" must not
    reach a subject line as "O&#x27;Brien &amp; Co". A missing variable renders as "", an unknown
    one is ignored, and so is anything that is not a dict key or list index (`{{x.__class__}}`
    renders ""). Each CR/LF run in the rendered subject becomes one space. With `text` None,
    the text part is generated from the HTML (see `text_template_of`).

    `slice_steps` (below `limits.max_steps`) is the work an event loop can afford inline: past
    it, or when the HTML is too long to convert to text inline, the render stops with a
    *deferred* `RenderLimitExceeded`, and the caller redoes it off the loop without a slice.

    Raises:
        RenderLimitExceeded: over a limit (`limit` names it), or deferred (see above).
        RenderError: a template does not compile, or rendering fails (e.g. an unknown helper).
    """
    if variables_depth_exceeds(variables, limits.max_variable_depth):
        raise RenderLimitExceeded("max_variable_depth", limits.max_variable_depth)
    budget = Budget(limits.max_steps, limits.max_output_bytes, slice_steps)
    if budget.sliced and text is None:
        cache = _TEXT_TEMPLATES if "{{" in html else _STATIC_TEXTS
        if not _converts_inline(html, cache):  # html2text over a long body: not on the loop
            raise RenderLimitExceeded("max_steps", limits.max_steps, deferred=True)
    text_source = text
    if text is None and "{{" in html:
        try:
            text_source = text_template_of(html)
        except Exception as exc:  # html2text is lenient, but a bug there must not escape
            raise RenderError(f"text generation failed: {exc}") from exc
    needs_raw = "{{" in subject or (text_source is not None and "{{" in text_source)
    raw = {key: _unescaped(value) for key, value in variables.items()} if needs_raw else variables
    rendered_subject = _CRLF_RUN.sub(" ", _render_one(subject, raw, budget))
    rendered_html = _render_one(html, variables, budget)
    if text_source is None:
        if budget.sliced and not _converts_inline(rendered_html, _STATIC_TEXTS):
            raise RenderLimitExceeded("max_steps", limits.max_steps, deferred=True)
        try:
            rendered_text = (
                _static_text(rendered_html) if "{{" not in html else html_to_text(rendered_html)
            )
        except Exception as exc:  # html2text is lenient, but a bug there must not escape
            raise RenderError(f"text generation failed: {exc}") from exc
    else:
        rendered_text = _render_one(text_source, raw, budget)
    parts = (rendered_subject, rendered_html, rendered_text)
    chars = sum(map(len, parts))
    if chars * 4 > limits.max_output_bytes and (
        chars > limits.max_output_bytes
        or sum(len(p.encode("utf-8", "surrogatepass")) for p in parts) > limits.max_output_bytes
    ):
        raise RenderLimitExceeded("max_output_bytes", limits.max_output_bytes)
    return Rendered(subject=rendered_subject, html=rendered_html, text=rendered_text)


def _static_text(html: str) -> str:
    """Text of an HTML body without template expressions: the same for every message."""
    if html in _STATIC_TEXTS:
        return _STATIC_TEXTS[html]
    return _STATIC_TEXTS.remember(html, html_to_text(html))
