"""/admin/tenants/{id}/gdpr: a tenant's data-protection page: export everything
naming an address (one JSON file), erase an address (the same service as `DELETE
/v1/gdpr/{email}`), and the erase requests with their state and counts."""

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response

from iep_appliance.admin.context import services
from iep_appliance.admin.templates import page
from iep_appliance.admin.tenant_page import operators, tenant_form, text
from iep_appliance.domain.audit import note
from iep_appliance.domain.errors import ValidationFailed

NOTICES = {"erased": "Erased. Its files and the database compaction finish in the background."}


async def _page(
    request: Request[Any, Any, Any], tenant_id: str, error: str = "", status: int = 200
) -> Response[Any]:
    tenant = await operators(request).tenant(tenant_id)
    return page(
        request,
        "tenant_gdpr",
        status=status,
        active="Tenants",
        tenant=tenant,
        requests=await services(request).gdpr.requests(tenant_id),
        notice=NOTICES.get(request.query_params.get("notice", ""), ""),
        error=error,
    )


@get("/tenants/{tenant_id:str}/gdpr")
async def show(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    return await _page(request, tenant_id)


@get("/tenants/{tenant_id:str}/gdpr/export")
async def export(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    await operators(request).tenant(tenant_id)
    email = request.query_params.get("email", "")
    try:
        found = await services(request).gdpr.export(tenant_id, email)
    except ValidationFailed as exc:
        return await _page(request, tenant_id, "; ".join(e.message for e in exc.errors), 422)
    return Response(
        msgspec.json.format(msgspec.json.encode(found), indent=2),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="gdpr-export.json"'},
    )


@post("/tenants/{tenant_id:str}/gdpr/erase", status_code=303)
async def erase(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    form = await tenant_form(request, tenant_id)
    try:
        found = await services(request).gdpr.erase(tenant_id, text(form, "email"))
    except ValidationFailed as exc:
        note(request.scope, refused=True)  # type: ignore[arg-type]
        return await _page(request, tenant_id, "; ".join(e.message for e in exc.errors), 422)
    note(request.scope, target_id=found.id)  # type: ignore[arg-type]
    return Redirect(path=f"/admin/tenants/{tenant_id}/gdpr?notice=erased", status_code=303)
