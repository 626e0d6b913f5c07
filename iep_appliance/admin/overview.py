"""/admin/: sent/failed/bounced/queued totals, charts of the last 24 hours and 30 days (all
tenants, or the one chosen), queue depth by state and per named queue, the oldest due job,
the last minute's throughput and each provider's health (circuit breaker, last error).
`_overview.html` polls itself through HTMX every few seconds."""

from typing import Any

from litestar import Request, get
from litestar.response import Template

from iep_appliance.admin.auth import dashboard
from iep_appliance.admin.chart import daily_chart, hourly_chart
from iep_appliance.admin.context import services
from iep_appliance.admin.templates import page


@get("/")
async def show(request: Request[Any, Any, Any]) -> Template:
    tenant = (request.query_params.get("tenant") or "").strip()
    service = dashboard(request)
    data = await service.overview(await services(request).health.provider_health(), tenant)
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
