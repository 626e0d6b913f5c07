"""/admin/engagement: one tenant's opens and clicks per hour (last 24 h) and per day (last
30 days), drawn like the overview's charts (chart.py): per bucket a bar of opens and beside
it a bar of clicks, each with its unique (by a person, first time) count in the title."""

from typing import Any

import msgspec
from litestar import Request, get
from litestar.response import Response

from iep_appliance.admin.chart import Chart, daily_chart, hourly_chart
from iep_appliance.admin.context import services
from iep_appliance.admin.templates import page
from iep_appliance.admin.tenant_page import operators

# What the chart's two bar kinds stand for here (and their colours: queued, sent).
_AS = {"queued": ("opens", "uniqueOpens"), "sent": ("clicks", "uniqueClicks")}


def engagement_chart(buckets: list[tuple[str, dict[str, int]]], by_day: bool) -> Chart:
    """The overview chart's geometry over (start, engagement counts) buckets."""
    mapped = [(s, {"queued": c["opens"], "sent": c["clicks"]}) for s, c in buckets]
    chart = daily_chart(mapped) if by_day else hourly_chart(mapped)
    counts = dict(buckets)
    bars = []
    for bar in chart.bars:
        start = next(s for s, _c in buckets if bar.title.startswith(_label(s, by_day)))
        total, unique = _AS[bar.kind]
        c = counts[start]
        title = f"{_label(start, by_day)}: {c[total]} {total} ({c[unique]} unique)"
        bars.append(msgspec.structs.replace(bar, title=title))
    return msgspec.structs.replace(chart, bars=bars)


def _label(start: str, by_day: bool) -> str:
    return start[:10] if by_day else f"{start[11:16]} UTC"


@get("/engagement")
async def show(request: Request[Any, Any, Any]) -> Response[Any]:
    tenants = await operators(request).tenants()
    chosen = request.query_params.get("tenant") or (tenants[0].id if tenants else "")
    tenant = next((t for t in tenants if chosen in (t.id, t.slug)), None)
    charts = []
    totals: dict[str, int] = {}
    if tenant is not None:
        service = services(request).tracking
        hours = await service.engagement(tenant.id, {"groupBy": "hour"})
        days = await service.engagement(tenant.id, {"groupBy": "day"})
        totals = days.totals
        charts = [
            ("Opens and clicks per hour", "last 24 hours", engagement_chart(hours.buckets, False)),
            ("Opens and clicks per day", "last 30 days", engagement_chart(days.buckets, True)),
        ]
    return page(
        request, "engagement", active="Engagement", tenants=tenants, tenant=tenant,
        charts=charts, totals=totals,
    )  # fmt: skip
