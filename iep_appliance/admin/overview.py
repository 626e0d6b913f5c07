"""/admin/: totals of today and the last 24 hours, the hourly chart, queue depth and the
providers' circuit breakers. `_overview.html` refreshes itself through HTMX."""

from typing import Any

from litestar import Request, get
from litestar.response import Template

from iep_appliance.admin.auth import dashboard
from iep_appliance.admin.chart import hourly_chart
from iep_appliance.admin.templates import page
from iep_appliance.runtime import Runtime


def provider_states(rt: Runtime) -> dict[str, str]:
    if rt.delivery is not None:
        states: dict[str, str] = rt.delivery.provider_states()
        return states
    return {name: "not delivering" for name in rt.config.providers}


@get("/")
async def show(request: Request[Any, Any, Any]) -> Template:
    data = await dashboard(request).overview(provider_states(request.app.state.runtime))
    return page(
        request,
        "overview",
        partial="_overview",
        active="Overview",
        data=data,
        chart=hourly_chart(data.hours),
    )
