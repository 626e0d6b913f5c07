"""The suppression list card of a tenant's page: search (and page through) the list, add
addresses, remove one, import a CSV file (a report of added, skipped and invalid rows) and
export the list as CSV. SuppressionService validates every address as /v1/suppressions does."""

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Response

from iep_appliance.admin.context import services
from iep_appliance.admin.tenant_page import (
    Feedback,
    act,
    operators,
    refused,
    render,
    respond,
    tenant_form,
    text,
)
from iep_appliance.domain.errors import FieldError, ValidationFailed


@get("/tenants/{tenant_id:str}/suppressions")
async def search(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    """The card (for HTMX: the card, or only more rows for a cursor), filtered by `search`."""
    return await render(request, tenant_id, "suppressions")


@post("/tenants/{tenant_id:str}/suppressions", status_code=200)
async def add(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    form = await tenant_form(request, tenant_id)
    raw = text(form, "emails")
    emails = raw.replace(",", " ").replace(";", " ").split()
    try:
        await services(request).suppressions.add(
            tenant_id, emails, text(form, "reason") or "manual"
        )
    except ValidationFailed as exc:
        return await refused(request, tenant_id, "suppressions", exc, {"emails": raw})
    return await respond(request, tenant_id, "suppressions", "suppressed")


@post("/tenants/{tenant_id:str}/suppressions/remove", status_code=200)
async def remove(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    email = text(await request.form(), "email")
    remove = services(request).suppressions.remove
    return await act(
        request, tenant_id, "suppressions", lambda: remove(tenant_id, email), "unsuppressed"
    )


@post("/tenants/{tenant_id:str}/suppressions/import", status_code=200)
async def import_csv(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    form = await request.form()
    service = operators(request)
    await service.tenant(tenant_id)
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile):
            raise ValidationFailed([FieldError("file", "choose a CSV file to upload")])
        data = await upload.read()
        reason = text(form, "reason") or "manual"
        report = await service.import_suppressions(tenant_id, data, reason)
    except ValidationFailed as exc:
        return await refused(request, tenant_id, "suppressions", exc)
    notice = (
        f"Import done: {report.added} added, {report.skipped} skipped (already suppressed or"
        f" repeated), {len(report.invalid)} invalid."
    )
    feedback = Feedback(notice=notice, shown={"invalid": report.invalid[:200]})
    return await respond(request, tenant_id, "suppressions", feedback=feedback)


@get("/tenants/{tenant_id:str}/suppressions.csv")
async def export_csv(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[str]:
    tenant = await operators(request).tenant(tenant_id)
    body = await operators(request).export_suppressions(tenant_id)
    return Response(
        content=body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="suppressions-{tenant.slug}.csv"'},
    )
