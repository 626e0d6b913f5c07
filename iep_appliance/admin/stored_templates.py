"""/admin/templates: every tenant's stored templates, an editor with a live preview
in the sandboxed iframe (the draft is POSTed to `…/preview`, whose answer is a document of
its own under the preview CSP of message previews), the version history with a diff, and a
test send of the version shown with its sample variables. Rules are TemplateService's."""

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response

from iep_appliance.admin.context import services
from iep_appliance.admin.messages import PREVIEW_CSP, PREVIEW_HEAD
from iep_appliance.admin.templates import page
from iep_appliance.admin.tenant_page import operators, tenant_form, text
from iep_appliance.domain.errors import FieldError, IEPError, NotFound, ValidationFailed
from iep_appliance.domain.models import Principal, SendRequest
from iep_appliance.domain.preview import sanitize_html
from iep_appliance.domain.templates import TemplateBody, TemplateRef, version_diff

EDITOR_JS = "/admin/static/template-editor.js"


def _submitted(form: Any) -> dict[str, str]:
    """The fields of the editor's form, as submitted."""
    return {
        k: (form.get(k) if isinstance(form.get(k), str) else "")
        for k in ("name", "subject", "htmlBody", "textBody", "sampleVariables")
    }


def _draft(fields: dict[str, str]) -> TemplateBody:
    """The template body of the editor's fields; ValidationFailed when it is not one."""
    samples: Any = {}
    if fields["sampleVariables"].strip():
        try:
            samples = msgspec.json.decode(fields["sampleVariables"].encode())
        except msgspec.DecodeError:
            samples = None
        if not isinstance(samples, dict):
            raise ValidationFailed([FieldError("sampleVariables", "must be a JSON object")])
    return TemplateBody(
        name=fields["name"],
        subject=fields["subject"],
        html_body=fields["htmlBody"],
        text_body=fields["textBody"] if fields["textBody"].strip() else None,
        sample_variables=samples,
    )


def _fields_of(v: Any) -> dict[str, str]:
    return {
        "name": v.name,
        "subject": v.subject,
        "htmlBody": v.html_body,
        "textBody": v.text_body or "",
        "sampleVariables": msgspec.json.encode(v.sample_variables).decode(),
    }


@get("/templates")
async def list_templates(request: Request[Any, Any, Any]) -> Response[Any]:
    rows = []
    tenants = await operators(request).tenants()
    for tenant in tenants:
        items, _more = await services(request).templates.page(tenant.id, 200)
        rows.extend((tenant, v) for v in items)
    return page(
        request,
        "stored_templates",
        active="Templates",
        rows=rows,
        tenants=tenants,
        notice=request.query_params.get("notice", ""),
    )


async def _editor(
    request: Request[Any, Any, Any],
    tenant_id: str,
    template_id: str | None,
    fields: dict[str, str] | None = None,
    errors: list[FieldError] | None = None,
    status: int = 200,
    notice: str = "",
) -> Response[Any]:
    tenant = await operators(request).tenant(tenant_id)
    service = services(request).templates
    versions: list[Any] = []
    shown = diff = None
    if template_id is not None:
        versions = await service.versions(tenant_id, template_id)
        raw = request.query_params.get("version", "")
        chosen = int(raw) if raw.isdigit() else versions[0].version
        shown = next((v for v in versions if v.version == chosen), None)
        if shown is None:
            raise NotFound("Template version not found")
        before = next((v for v in versions if v.version == shown.version - 1), None)
        diff = version_diff(before, shown) if before is not None else None
        fields = fields or _fields_of(shown)
    return page(
        request,
        "stored_template",
        status=status,
        active="Templates",
        tenant=tenant,
        template_id=template_id,
        versions=versions,
        shown=shown,
        diff=diff,
        fields=fields or dict.fromkeys(("name", "subject", "htmlBody", "textBody"), ""),
        errors={e.path: e.message for e in errors or []},
        notice=notice or request.query_params.get("notice", ""),
        domains=await _domains(request, tenant_id),
        EDITOR_JS=EDITOR_JS,
    )


async def _domains(request: Request[Any, Any, Any], tenant_id: str) -> list[str]:
    """The tenant's usable sender domains (the test send's `from` default)."""
    try:
        return sorted((await services(request).messages.context(tenant_id)).domains)
    except NotFound:  # a deactivated tenant sends nothing
        return []


@get("/templates/new")
async def new_from_list(request: Request[Any, Any, Any]) -> Response[Any]:
    """The list page's "New template" form: the editor of the chosen tenant."""
    tenant_id = request.query_params.get("tenant", "")
    return Redirect(path=f"/admin/tenants/{tenant_id}/templates/new", status_code=303)


@get("/tenants/{tenant_id:str}/templates/new")
async def new_template(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    return await _editor(request, tenant_id, None)


@post("/tenants/{tenant_id:str}/templates", status_code=303)
async def create_template(
    request: Request[Any, Any, Any], tenant_id: FromPath[str]
) -> Response[Any]:
    await operators(request).tenant(tenant_id)
    fields = _submitted(await request.form())
    try:
        made = await services(request).templates.create(tenant_id, _draft(fields))
    except ValidationFailed as exc:
        return await _editor(request, tenant_id, None, fields, exc.errors, status=422)
    path = f"/admin/tenants/{tenant_id}/templates/{made.id}?notice=created"
    return Redirect(path=path, status_code=303)


@get("/tenants/{tenant_id:str}/templates/{template_id:str}")
async def show_template(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], template_id: FromPath[str]
) -> Response[Any]:
    return await _editor(request, tenant_id, template_id)


@post("/tenants/{tenant_id:str}/templates/{template_id:str}", status_code=303)
async def save_template(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], template_id: FromPath[str]
) -> Response[Any]:
    await operators(request).tenant(tenant_id)
    fields = _submitted(await request.form())
    try:
        saved = await services(request).templates.update(tenant_id, template_id, _draft(fields))
    except ValidationFailed as exc:
        return await _editor(request, tenant_id, template_id, fields, exc.errors, status=422)
    path = (
        f"/admin/tenants/{tenant_id}/templates/{template_id}?notice=saved+version+{saved.version}"
    )
    return Redirect(path=path, status_code=303)


@post("/tenants/{tenant_id:str}/templates/{template_id:str}/delete", status_code=303)
async def delete_template(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], template_id: FromPath[str]
) -> Response[Any]:
    await services(request).templates.delete(tenant_id, template_id)
    return Redirect(path="/admin/templates?notice=deleted", status_code=303)


@post("/tenants/{tenant_id:str}/templates/preview", status_code=200)
async def preview(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    """The draft rendered with its sample variables, sanitized, as the iframe's document."""
    await operators(request).tenant(tenant_id)
    fields = _submitted(await request.form())
    try:
        rendered = services(request).templates.render_body(_draft(fields), None)
        html = f"<p><strong>{_esc(rendered.subject)}</strong></p><hr>" + sanitize_html(
            rendered.html or f"<pre>{_esc(rendered.text)}</pre>", remote_images=False
        )
    except ValidationFailed as exc:
        problems = "".join(f"<li>{_esc(e.path)}: {_esc(e.message)}</li>" for e in exc.errors)
        html = f'<p role="alert">Cannot preview:</p><ul class="errors">{problems}</ul>'
    return Response(
        content=(PREVIEW_HEAD + html + "</body></html>").encode(),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": PREVIEW_CSP.format(remote=""),
            "Referrer-Policy": "no-referrer",
        },
    )


def _esc(value: str) -> str:
    from html import escape

    return escape(value)


@post("/tenants/{tenant_id:str}/templates/{template_id:str}/test", status_code=200)
async def send_test(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], template_id: FromPath[str]
) -> Response[Any]:
    """A real send of the version shown, with its sample variables, to one address."""
    form = await tenant_form(request, tenant_id)
    version = text(form, "version")
    found = await services(request).templates.get(
        tenant_id, template_id, int(version) if version.isdigit() else None
    )
    principal = Principal(tenant_id=tenant_id, key_id="dashboard", scopes=frozenset({"send"}))
    try:
        req = SendRequest(
            to=[text(form, "to")],
            from_=text(form, "from"),
            template=TemplateRef(id=template_id, version=found.version),
            variables=found.sample_variables,
            metadata={"category": "template-test"},
        )
        accepted = await services(request).messages.accept(principal, req)
    except IEPError as exc:
        detail = "; ".join(f"{e.path}: {e.message}" for e in getattr(exc, "errors", [])) or str(exc)
        return await _editor(request, tenant_id, template_id, status=422, notice="",
                             errors=[FieldError("to", detail)])  # fmt: skip
    notice = f"Test message {accepted.message_id} queued to {text(form, 'to')}."
    return await _editor(request, tenant_id, template_id, notice=notice)
