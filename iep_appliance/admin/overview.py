"""/admin/: sent/failed/bounced/queued totals, charts of the last 24 hours and 30 days (all
tenants, or the one chosen), queue depth by state and per named queue, the oldest due job,
the last minute's throughput and each provider's health (circuit breaker, last error).
`_overview.html` polls itself through HTMX every few seconds."""

from typing import Any

from litestar import Request, get
from litestar.response import Template

from iep_appliance.admin.auth import dashboard
from iep_appliance.admin.chart import daily_chart, hourly_chart
from iep_appliance.admin.templates import page
from iep_appliance.runtime import Runtime
from iep_appliance.services.dashboard import ProviderHealth


def provider_health(rt: Runtime) -> list[ProviderHealth]:
    engine = rt.delivery
    if engine is None:
        return [ProviderHealth(name, "not delivering") for name in rt.config.providers]
    now = rt.clock.monotonic()
    found = []
    for name, state in engine.provider_states().items():
        last = engine.router.last_error(name)
        found.append(
            ProviderHealth(
                name=name,
                state=state,
                last_error=last[0] if last else None,
                error_age_seconds=now - last[1] if last else None,
            )
        )
    return found


@get("/")
async def show(request: Request[Any, Any, Any]) -> Template:
    tenant = (request.query_params.get("tenant") or "").strip()
    service = dashboard(request)
    data = await service.overview(provider_health(request.app.state.runtime), tenant)
    return page(
        request,
        "overview",
        partial="_overview",
        active="Overview",
        data=data,
        charts=[
            ("Messages per hour", "last 24 hours", hourly_chart(data.hours)),
            ("Messages per day", "last 30 days", daily_chart(data.days)),
        ],
        slugs=await service.tenant_slugs(),
    )
