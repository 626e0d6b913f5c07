"""The Resume button of a tenant's reputation panel (DESIGN §10.3): the operator ends the hold
of a tenant whose sending is held. The panel itself is a section of tenant_page.py."""

from typing import Any

from litestar import Request, post
from litestar.params import FromPath
from litestar.response import Response

from iep_appliance.admin.context import services
from iep_appliance.admin.tenant_page import operators, respond


@post("/tenants/{tenant_id:str}/reputation/resume", status_code=200)
async def resume(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    """End the hold: the held mail is sent, and the rates count again from now."""
    tenant = await operators(request).tenant(tenant_id)
    await services(request).reputation.resume(tenant.id)
    return await respond(request, tenant_id, "domains", "reputation-resumed")
