"""/admin/tenants: every tenant with its settings and message counts; admins create one
(OperatorService.create_tenant, the same rules as the CLI) and land on its page
(tenant_page.py) to create its first API key."""

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Response, Template

from iep_appliance.admin.auth import dashboard
from iep_appliance.admin.context import services
from iep_appliance.admin.templates import page
from iep_appliance.domain.errors import Conflict, ValidationFailed

COUNTED = ("queued", "processing", "sent", "failed", "bounced")


async def _page(
    request: Request[Any, Any, Any],
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Template:
    limits = services(request).rate_limits.defaults  # `[limits]`, as reloaded
    return page(
        request,
        "tenants",
        active="Tenants",
        rows=await dashboard(request).tenants(),
        counted=COUNTED,
        defaults={
            "maxPerMinute": limits.per_minute or None,
            "maxPerHour": limits.per_hour or None,
            "maxPerDay": limits.per_day or None,
        },
        errors=errors or {},
        form=form or {"slug": "", "name": "", "domains": ""},
        status=status,
    )


@get("/tenants")
async def list_tenants(request: Request[Any, Any, Any]) -> Template:
    return await _page(request)


@post("/tenants", status_code=303)
async def create(request: Request[Any, Any, Any]) -> Response[Any]:
    form = await request.form()
    fields = {k: str(form.get(k) or "").strip() for k in ("slug", "name", "domains")}
    domains = [d for d in fields["domains"].replace(",", " ").split() if d]
    try:
        tenant = await services(request).operators.create_tenant(
            fields["slug"], fields["name"], domains
        )
    except ValidationFailed as exc:
        errors = {e.path: e.message for e in exc.errors}
        return await _page(request, errors, fields, 422)
    except Conflict as exc:
        return await _page(request, {"slug": str(exc)}, fields, 409)
    target = f"/admin/tenants/{tenant.id}?section=keys&notice=created#t-keys"
    return Redirect(path=target, status_code=303)
