"""One sender domain of a tenant in the dashboard: its status, the DNS records to
publish with a copy button each, "Check DNS now", and a status panel that refreshes itself
(HTMX polling) while the domain is not verified."""

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Template

from iep_appliance.admin.context import services
from iep_appliance.admin.templates import page
from iep_appliance.admin.tenant_page import operators


async def _show(request: Request[Any, Any, Any], tenant_id: str, domain: str) -> Template:
    tenant = await operators(request).tenant(tenant_id)  # NotFound → the 404 page
    detail = await services(request).domain_checks.detail(tenant.id, domain)
    return page(request, "domain", partial="_domain_status", tenant=tenant, d=detail)


@get("/tenants/{tenant_id:str}/domains/{domain:str}")
async def show(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], domain: FromPath[str]
) -> Template:
    return await _show(request, tenant_id, domain)


@post("/tenants/{tenant_id:str}/domains/{domain:str}/verify", status_code=200)
async def verify(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], domain: FromPath[str]
) -> Template:
    tenant = await operators(request).tenant(tenant_id)
    await services(request).domain_checks.verify(tenant.id, domain)
    return await _show(request, tenant_id, domain)
