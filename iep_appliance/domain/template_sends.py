"""A send by stored template (DESIGN §10.5): the request the rest of the send path checks,
with the template's sources in place of `subject`/`htmlBody`/`textBody`, and the
`strictVariables` rule. Pure."""

import functools

import msgspec

from iep_appliance.domain.errors import FieldError, ValidationFailed
from iep_appliance.domain.models import SendRequest, TenantSettings
from iep_appliance.domain.templates import TemplateVersion, missing_variables, template_variables


def with_template(req: SendRequest, version: TemplateVersion) -> SendRequest:
    """`req` with the version's sources. Raises ValidationFailed naming `template` when the
    send also carries its own subject or bodies."""
    if req.subject or req.html_body or req.text_body is not None:
        raise ValidationFailed(
            [FieldError("template", "a send takes a template or subject/htmlBody/textBody")]
        )
    return msgspec.structs.replace(
        req, subject=version.subject, html_body=version.html_body, text_body=version.text_body
    )


def strict(req: SendRequest, settings: TenantSettings) -> bool:
    return (
        req.strict_variables
        if req.strict_variables is not None
        else settings.content.strict_variables
    )


@functools.lru_cache(maxsize=1024)
def _inline_variables(subject: str, html: str, text: str | None) -> tuple[str, ...]:
    return template_variables(subject, html, text)


def check_variables(req: SendRequest, used: tuple[str, ...] | None) -> None:
    """Under `strictVariables`: every variable the template uses (`used`; None: the send's own
    sources) must be in `variables`. Raises ValidationFailed naming each `variables.<path>`."""
    if used is None:
        used = _inline_variables(req.subject, req.html_body, req.text_body)
    missing = missing_variables(used, req.variables)
    if missing:
        raise ValidationFailed(
            [FieldError(f"variables.{m}", "is used by the template but missing") for m in missing]
        )
