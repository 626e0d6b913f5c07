"""Stored, versioned templates (DESIGN §10.5): what a template is, what makes one acceptable,
which variables it uses, and what a send by template lacks. Pure: no I/O, `now` is passed.

The variables a template uses are found by walking pybars3's parsed form (handlebars.parse),
never by matching `{{…}}` with a regex: `{{#each items}}{{title}}{{/each}}` uses `items` (the
`title` is an item's), `{{#if vip}}{{code}}{{/if}}` uses both, `{{../name}}` inside a block
is the outer scope's `name`, and helpers (`{{lookup map key}}`) use their arguments.
"""

import difflib
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec

from iep_appliance.domain import handlebars
from iep_appliance.domain.errors import FieldError
from iep_appliance.domain.render import (
    RenderError,
    RenderLimitExceeded,
    RenderLimits,
    check_template,
    render,
    variables_depth_exceeds,
)
from iep_appliance.domain.tracking import TrackingField, TrackingOptions

MAX_NAME = 200
MAX_SUBJECT = 998
# Helpers of the bounded runtime (handlebars.py): their name is not a variable.
HELPERS = frozenset({"if", "unless", "each", "with", "lookup", "log"})
_SCOPED_BLOCKS = frozenset({"each", "with"})  # their body runs in the item's scope


class TemplateRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Annotated[str, msgspec.Meta(description="The stored template's id.")]
    version: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        msgspec.Meta(description="Its version; the latest when absent."),
    ] = None


class ContentDefaults(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    """A tenant's defaults for the sends that do not say (TenantSettings.content)."""

    tracking: TrackingOptions = TrackingOptions()
    strict_variables: bool = False


# The send's fields (SendRequest, domain/models.py); Tracking from domain/tracking.py.
Tracking = TrackingField
TemplateField = Annotated[
    TemplateRef | None,
    msgspec.Meta(
        description="A stored template `{id, version?}` (latest when no version), instead of"
        " `subject`, `htmlBody` and `textBody`."
    ),
]
StrictVariablesField = Annotated[
    bool | None,
    msgspec.Meta(
        description="A variable the template uses but `variables` lacks is a 422 naming it;"
        " the tenant's `strictVariables` setting when absent."
    ),
]


class TemplateBody(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    """POST /v1/templates and PUT /v1/templates/{id} (a PUT makes a new version)."""

    name: Annotated[str, msgspec.Meta(description="A name for people (1-200 characters).")]
    subject: Annotated[str, msgspec.Meta(description="Subject template (Handlebars).")]
    html_body: Annotated[str, msgspec.Meta(description="HTML body template (Handlebars).")] = ""
    text_body: Annotated[
        str | None,
        msgspec.Meta(description="Plain-text body template; derived from the HTML when absent."),
    ] = None
    sample_variables: Annotated[
        dict[str, Any],
        msgspec.Meta(description="Variables for previews and the dashboard's test send."),
    ] = {}


class TemplateVersion(msgspec.Struct, frozen=True):
    """One immutable version of a template (the latest one stands for the template)."""

    id: str  # the template's id
    tenant_id: str
    version: int
    name: str
    subject: str
    html_body: str
    text_body: str | None
    sample_variables: dict[str, Any]
    variables: tuple[str, ...]  # dotted paths it uses at the top scope, sorted
    created_at: str  # of this version
    template_created_at: str = ""


# ---- variables: walking the parsed form --------------------------------------------------


def _root_path(path: Any, depth: int) -> str | None:
    """The top-scope variable a `('path', segments)` node names at scope `depth`, or None."""
    segments = [s for s in path[1] if s != ""]
    while segments and segments[0] in ("@_parent", "@@_parent"):
        depth -= 1
        segments.pop(0)
    if segments and segments[0] == "@root":
        depth = 0
        segments.pop(0)
    if segments and segments[0] == "this":
        segments.pop(0)
    if depth != 0 or not segments or segments[0].startswith("@"):
        return None
    return ".".join(segments)


def _walk_params(params: list[Any], depth: int, out: set[str]) -> None:
    for param in params:
        kind = param[0]
        if kind == "path":
            found = _root_path(param, depth)
            if found:
                out.add(found)
        elif kind == "kwparam":
            _walk_params([param[2]], depth, out)
        elif kind == "subexpr":
            _walk_params(param[2], depth, out)


def _walk(nodes: list[Any], depth: int, out: set[str]) -> None:
    for node in nodes:
        if not isinstance(node, tuple):
            continue
        kind = node[0]
        if kind in ("expand", "escapedexpand"):
            path, args = node[1], node[2]
            head = [s for s in path[1] if s != ""]
            if args or (len(head) == 1 and head[0] in HELPERS):
                _walk_params(args, depth, out)  # a helper call: its arguments are variables
            else:
                _walk_params([path], depth, out)
        elif kind in ("block", "invertedblock"):
            name, args, body, alt = node[1], node[2], node[3], node[4]
            _walk_params(args, depth, out)
            if name in HELPERS:
                inner = depth + 1 if name in _SCOPED_BLOCKS else depth
            else:  # a section on a variable: `{{#user}}{{name}}{{/user}}`
                _walk_params([("path", [name])], depth, out)
                inner = depth + 1 if kind == "block" else depth
            _walk(body[1:] if body else [], inner, out)
            _walk(alt[1:] if alt else [], depth, out)
        elif kind == "partial":
            _walk_params(node[2], depth, out)


def template_variables(*sources: str | None) -> tuple[str, ...]:
    """The dotted top-scope variables the sources use, sorted (a source that does not parse
    contributes none: `check_body` refuses it first)."""
    out: set[str] = set()
    for source in sources:
        if not source or "{{" not in source:
            continue
        try:
            tree = handlebars.parse(source)
        except Exception:  # the parser raises bare errors on malformed input
            continue
        _walk(tree[1:], 0, out)
    return tuple(sorted(out))


def missing_variables(used: tuple[str, ...], variables: Mapping[str, Any]) -> list[str]:
    """The used paths a send's `variables` do not provide (`user.name` needs a `user` object
    with a `name`)."""
    missing = []
    for path in used:
        value: Any = variables
        for part in path.split("."):
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                missing.append(path)
                break
    return missing


# ---- what makes a template acceptable ----------------------------------------------------


def check_subject_and_bodies(
    subject: str, html_body: str, text_body: str | None, errors: list[FieldError]
) -> None:
    """The rules a send and a stored template share: a subject on one line, neither empty nor
    longer than MAX_SUBJECT, and an HTML or a text body that is not blank."""
    if "\r" in subject or "\n" in subject:
        errors.append(FieldError("subject", "must not contain CR or LF"))
    elif not subject.strip():
        errors.append(FieldError("subject", "must not be empty"))
    elif len(subject) > MAX_SUBJECT:
        errors.append(FieldError("subject", f"at most {MAX_SUBJECT} characters"))
    if not html_body.strip() and not (text_body or "").strip():
        errors.append(FieldError("htmlBody", "htmlBody or textBody is required (not empty)"))


def check_body(body: TemplateBody, limits: RenderLimits) -> list[FieldError]:
    """Every reason `body` cannot be stored: fields, parse errors, and the render limits of
    `[render]` (the template rendered with its sample variables must stay within them)."""
    errors: list[FieldError] = []
    name = body.name.strip()
    if not name or len(name) > MAX_NAME or "\r" in name or "\n" in name:
        errors.append(FieldError("name", f"must be 1-{MAX_NAME} characters on one line"))
    check_subject_and_bodies(body.subject, body.html_body, body.text_body, errors)
    parts = {"subject": body.subject, "htmlBody": body.html_body, "textBody": body.text_body}
    for field, source in parts.items():
        if source is None:
            continue
        if len(source.encode("utf-8", "surrogatepass")) > limits.max_output_bytes:
            errors.append(FieldError(field, f"larger than {limits.max_output_bytes} bytes"))
            continue
        problem = check_template(source)
        if problem is not None:
            errors.append(FieldError(field, f"not a valid Handlebars template: {problem}"))
    if variables_depth_exceeds(body.sample_variables, limits.max_variable_depth):
        errors.append(
            FieldError("sampleVariables", f"nested deeper than {limits.max_variable_depth}")
        )
    if errors:
        return errors
    return _check_render(body, limits)


def _check_render(body: TemplateBody, limits: RenderLimits) -> list[FieldError]:
    """Render with the sample variables; over a limit, name the part that is (alone) over."""
    try:
        render(body.subject, body.html_body, body.text_body, body.sample_variables, limits)
        return []
    except RenderLimitExceeded as exc:
        whole = exc
    except RenderError as exc:
        return [FieldError("htmlBody", f"does not render: {exc}")]
    parts = (
        ("subject", (body.subject, "", "")),
        ("htmlBody", ("", body.html_body, "")),
        ("textBody", ("", "", body.text_body or "")),
    )
    for field, (subject, html, text) in parts:
        try:
            render(subject, html or " ", text, body.sample_variables, limits)
        except RenderLimitExceeded as exc:
            return [FieldError(field, str(exc))]
        except RenderError:
            continue
    return [FieldError("htmlBody", str(whole))]


def version_of(
    body: TemplateBody, template_id: str, tenant_id: str, version: int, now: str
) -> TemplateVersion:
    """The stored form of a checked body (`check_body` returned no error)."""
    return TemplateVersion(
        id=template_id,
        tenant_id=tenant_id,
        version=version,
        name=body.name.strip(),
        subject=body.subject,
        html_body=body.html_body,
        text_body=body.text_body,
        sample_variables=body.sample_variables,
        variables=template_variables(body.subject, body.html_body, body.text_body),
        created_at=now,
        template_created_at=now,
    )


# ---- what changed between two versions (the dashboard's history) -------------------------


def version_diff(old: TemplateVersion, new: TemplateVersion) -> list[tuple[str, str]]:
    """A unified diff of two versions' parts as (kind, line): kind is `hunk`, `add`, `del`
    or `same`; [] when nothing changed."""

    def lines(v: TemplateVersion) -> list[str]:
        out = [f"name: {v.name}", f"subject: {v.subject}", "htmlBody:"]
        out += v.html_body.splitlines() or [""]
        if v.text_body is not None:
            out += ["textBody:", *(v.text_body.splitlines() or [""])]
        return out

    diff = difflib.unified_diff(
        lines(old), lines(new), f"version {old.version}", f"version {new.version}", lineterm=""
    )
    out: list[tuple[str, str]] = []
    for line in diff:
        if line.startswith(("---", "+++")):
            continue
        kind = {"@": "hunk", "+": "add", "-": "del"}.get(line[:1], "same")
        out.append((kind, line))
    return out
