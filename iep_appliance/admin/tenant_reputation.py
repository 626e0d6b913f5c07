"""The reputation panel of a tenant's page (issue 16, DESIGN §10.3): rates, state, a small
per-day trend, and the operator's Resume button for a tenant whose sending is held."""

from typing import Any

from litestar import Request, post
from litestar.params import FromPath
from litestar.response import Response

from iep_appliance.admin.chart import SMALL_H, SMALL_W, rate_trend
from iep_appliance.admin.context import services
from iep_appliance.admin.tenant_page import operators, respond
from iep_appliance.domain.models import Tenant


async def panel(request: Request[Any, Any, Any], tenant: Tenant) -> dict[str, Any]:
    service = services(request).reputation
    cfg = service.cfg
    days = await service.trend(tenant.id)
    return {
        "reputation": await service.of(tenant.id),
        "reputation_held": service.is_held(tenant.id),
        "reputation_trend": rate_trend(
            [(d.day, d.bounce_rate, d.complaint_rate) for d in days],
            cfg.pause_bounce_rate,
            cfg.pause_complaint_rate,
        ),
        "trend_size": (SMALL_W, SMALL_H),
    }


@post("/tenants/{tenant_id:str}/reputation/resume", status_code=200)
async def resume(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    """End the hold: the held mail is sent, and the rates count again from now."""
    tenant = await operators(request).tenant(tenant_id)
    await services(request).reputation.resume(tenant.id)
    return await respond(request, tenant_id, "domains", "reputation-resumed")
