"""The providers page of a tenant: its own SMTP / SES / SendGrid / Mailgun providers,
as /v1/providers manages them — add (settings and credentials as JSON; credentials are never
shown again), test (connects, names the failed step), delete."""

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from iep_appliance.admin.context import services
from iep_appliance.admin.templates import page
from iep_appliance.admin.tenant_page import operators, text
from iep_appliance.domain.errors import Conflict, FieldError, NotFound, ValidationFailed
from iep_appliance.domain.tenant_providers import PROVIDER_TYPES, ProbeView, ProviderCreate
from iep_appliance.domain.validation import decode_error_path

NOTICES = {"created": "Provider added.", "deleted": "Provider deleted."}


async def _page(
    request: Request[Any, Any, Any],
    tenant_id: str,
    *,
    errors: list[FieldError] | None = None,
    form: dict[str, str] | None = None,
    probe: tuple[str, ProbeView] | None = None,
    status: int = 200,
) -> Template:
    tenant = await operators(request).tenant(tenant_id)
    providers = await services(request).tenant_providers.list(tenant_id)
    return page(
        request,
        "tenant_providers",
        active="Tenants",
        tenant=tenant,
        providers=providers,
        types=PROVIDER_TYPES,
        errors=errors or [],
        form=form or {},
        probe=probe,
        notice=NOTICES.get(request.query_params.get("notice", ""), ""),
        status=status,
    )


@get("/tenants/{tenant_id:str}/providers")
async def show(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Template:
    return await _page(request, tenant_id)


def _json_field(form: Any, name: str, errors: list[FieldError]) -> dict[str, Any]:
    raw = text(form, name).strip() or "{}"
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        errors.append(FieldError(name, "not JSON"))
        return {}
    if not isinstance(value, dict):
        errors.append(FieldError(name, "expected a JSON object"))
        return {}
    return value


@post("/tenants/{tenant_id:str}/providers", status_code=200)
async def create(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    await operators(request).tenant(tenant_id)
    form = await request.form()
    shown = {
        "name": text(form, "name"),
        "type": text(form, "type"),
        "settings": text(form, "settings"),
    }  # fmt: skip  (credentials never echoed)
    errors: list[FieldError] = []
    settings = _json_field(form, "settings", errors)
    credentials = _json_field(form, "credentials", errors)
    if errors:
        return await _page(request, tenant_id, errors=errors, form=shown, status=422)
    try:
        body = msgspec.convert(
            {"name": shown["name"], "type": shown["type"], "settings": settings,
             "credentials": credentials},
            ProviderCreate,
        )  # fmt: skip
        await services(request).tenant_providers.create(tenant_id, body)
    except msgspec.ValidationError as exc:
        errors = [decode_error_path(str(exc))]  # `credentials.password`, not always `type`
        return await _page(request, tenant_id, errors=errors, form=shown, status=422)
    except ValidationFailed as exc:
        return await _page(request, tenant_id, errors=exc.errors, form=shown, status=422)
    except Conflict as exc:
        errors = [FieldError("name", exc.detail)]
        return await _page(request, tenant_id, errors=errors, form=shown, status=409)
    return Redirect(f"/admin/tenants/{tenant_id}/providers?notice=created", status_code=303)


@post("/tenants/{tenant_id:str}/providers/{provider_id:str}/test", status_code=200)
async def test(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], provider_id: FromPath[str]
) -> Template:
    await operators(request).tenant(tenant_id)
    result = await services(request).tenant_providers.test(tenant_id, provider_id)
    return await _page(request, tenant_id, probe=(provider_id, result))


@post("/tenants/{tenant_id:str}/providers/{provider_id:str}/delete", status_code=200)
async def delete(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], provider_id: FromPath[str]
) -> Response[Any]:
    await operators(request).tenant(tenant_id)
    try:
        await services(request).tenant_providers.delete(tenant_id, provider_id)
    except NotFound:
        return await _page(request, tenant_id, status=404)
    return Redirect(f"/admin/tenants/{tenant_id}/providers?notice=deleted", status_code=303)
