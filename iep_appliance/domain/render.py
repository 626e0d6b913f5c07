"""Handlebars rendering of a message's subject, HTML and text (DESIGN §5), typed over pybars3.

Owns the compile cache, the escaping rules and the header-safety of the rendered subject.
Pure: no I/O and no clock; a failure is a `RenderError` carrying the renderer's message.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

import html2text
import msgspec
from pybars import Compiler, PybarsError, strlist

__all__ = ["RenderError", "Rendered", "check_template", "html_to_text", "render"]

Template = Callable[..., Any]

_COMPILER = Compiler()
# pybars keeps its code builder in shared state, so two threads compiling at once would corrupt
# each other's output; rendering a compiled template is reentrant and needs no lock.
_COMPILE_LOCK = threading.Lock()
_CRLF_RUN = re.compile(r"[\r\n]+")


class RenderError(Exception):
    """A template failed to compile or to render; `str()` is the renderer's message."""


class Rendered(msgspec.Struct, frozen=True):
    subject: str
    html: str
    text: str


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
def _compile(source: str) -> tuple[Template | None, str | None]:
    """Compile once per distinct template text; errors are cached too (compiling costs ~25 ms)."""
    try:
        with _COMPILE_LOCK:
            template = _COMPILER.compile(source)
    except PybarsError as exc:
        return None, str(exc)
    except Exception as exc:  # the parser raises bare errors on some malformed input
        return None, f"{type(exc).__name__}: {exc}"
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


def _render_one(source: str, variables: Mapping[str, Any]) -> str:
    if "{{" not in source:
        return source
    template, error = _compile(source)
    if template is None:
        raise RenderError(error)
    try:
        return str(template(variables))
    except RenderError:
        raise
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


@functools.lru_cache(maxsize=1024)
def text_template_of(html: str) -> str | None:
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


def render(subject: str, html: str, text: str | None, variables: Mapping[str, Any]) -> Rendered:
    """Render the three parts of a message with the same variables.

    `{{x}}` HTML-escapes and `{{{x}}}` does not, in the HTML body. Subject and text are not
    HTML, so there `{{x}}` inserts the value as is (as Postmark does): "O'Brien & Co" must not
    reach a subject line as "O&#x27;Brien &amp; Co". A missing variable renders as "", an unknown
    one is ignored. Each CR/LF run in the rendered subject becomes one space. With `text` None,
    the text part is generated from the HTML (see `text_template_of`).

    Raises:
        RenderError: a template does not compile, or rendering fails (e.g. an unknown helper).
    """
    text_source = text
    if text is None and "{{" in html:
        try:
            text_source = text_template_of(html)
        except Exception as exc:  # html2text is lenient, but a bug there must not escape
            raise RenderError(f"text generation failed: {exc}") from exc
    needs_raw = "{{" in subject or (text_source is not None and "{{" in text_source)
    raw = {key: _unescaped(value) for key, value in variables.items()} if needs_raw else variables
    rendered_subject = _CRLF_RUN.sub(" ", _render_one(subject, raw))
    rendered_html = _render_one(html, variables)
    if text_source is None:
        try:
            rendered_text = (
                _static_text(rendered_html) if "{{" not in html else html_to_text(rendered_html)
            )
        except Exception as exc:  # html2text is lenient, but a bug there must not escape
            raise RenderError(f"text generation failed: {exc}") from exc
    else:
        rendered_text = _render_one(text_source, raw)
    return Rendered(subject=rendered_subject, html=rendered_html, text=rendered_text)


@functools.lru_cache(maxsize=256)
def _static_text(html: str) -> str:
    """Text of an HTML body without template expressions: the same for every message."""
    return html_to_text(html)
