"""/v1/analytics (read): delivery counts over time and an overview, from the hourly rollups.
Thin: ranges and rates live in domain/analytics.py, reads in services/analytics.py."""

from typing import Annotated

import msgspec
from litestar.params import FromQuery, QueryParameter

from iep_appliance.api.inject import Injected
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.services.analytics import AnalyticsService

routes = Routes(tag="analytics", scope="read")


class DeliveryView(msgspec.Struct, frozen=True, rename="camel"):
    group_by: Annotated[str, msgspec.Meta(description="Bucket size: `hour` or `day`.")]
    from_: Annotated[str, msgspec.Meta(description="Start of the period (ISO 8601).")] = (
        msgspec.field(name="from")
    )
    to: Annotated[str, msgspec.Meta(description="End of the period (ISO 8601).")] = ""
    buckets: Annotated[
        list[dict[str, int | str]],
        msgspec.Meta(description="One entry per bucket: its start and the messages by status."),
    ] = []


class OverviewView(msgspec.Struct, frozen=True, rename="camel"):
    from_: Annotated[str, msgspec.Meta(description="Start of the period (ISO 8601).")] = (
        msgspec.field(name="from")
    )
    to: Annotated[str, msgspec.Meta(description="End of the period (ISO 8601).")] = ""
    totals: Annotated[
        dict[str, int], msgspec.Meta(description="Messages by status in the period.")
    ] = {}
    delivery_rate: Annotated[
        float, msgspec.Meta(description="Sent over finished messages in the period (0 to 1).")
    ] = 0.0
    bounce_rate: Annotated[
        float, msgspec.Meta(description="Bounced over sent messages in the period (0 to 1).")
    ] = 0.0
    queue_depths: Annotated[
        dict[str, dict[str, int]], msgspec.Meta(description="Per named queue, its jobs by state.")
    ] = {}


@routes.get(
    "/v1/analytics/delivery",
    summary="Message counts by status over time (hour or day buckets, zero-filled)",
    description="`groupBy=hour|day` (default hour); `from`/`to` ISO dates or date-times "
    "(default: the last 24 h by hour, the last 30 days by day; UTC buckets, `to` exclusive); "
    "filters `queue`, `category`, `tag`. Counts are status changes in each bucket.",
)
async def delivery_stats(
    analytics: Injected[AnalyticsService],
    principal: Caller,
    group_by: Annotated[str | None, QueryParameter(name="groupBy")] = None,
    from_: Annotated[str | None, QueryParameter(name="from")] = None,
    to: FromQuery[str | None] = None,
    queue: FromQuery[str | None] = None,
    category: FromQuery[str | None] = None,
    tag: FromQuery[str | None] = None,
) -> DeliveryView:
    params = {
        "groupBy": group_by,
        "from": from_,
        "to": to,
        "queue": queue,
        "category": category,
        "tag": tag,
    }
    stats = await analytics.delivery(principal.tenant_id, params)
    return DeliveryView(
        group_by=stats.query.group_by,
        from_=stats.query.start,
        to=stats.query.end,
        buckets=[{"start": start, **counts} for start, counts in stats.buckets],
    )


@routes.get(
    "/v1/analytics/overview",
    summary="Totals by status, delivery and bounce rates, and queue depths",
    description="Totals over `from`/`to` (default: the last 30 days), optionally filtered by "
    "`queue`, `category`, `tag`; `deliveryRate` = sent / (sent + failed + bounced), "
    "`bounceRate` = bounced / (sent + failed + bounced), 0 when nothing finished; "
    "`queueDepths` are the messages scheduled, queued and processing now, by queue.",
)
async def overview(
    analytics: Injected[AnalyticsService],
    principal: Caller,
    from_: Annotated[str | None, QueryParameter(name="from")] = None,
    to: FromQuery[str | None] = None,
    queue: FromQuery[str | None] = None,
    category: FromQuery[str | None] = None,
    tag: FromQuery[str | None] = None,
) -> OverviewView:
    params = {"from": from_, "to": to, "queue": queue, "category": category, "tag": tag}
    o = await analytics.overview(principal.tenant_id, params)
    return OverviewView(
        from_=o.query.start,
        to=o.query.end,
        totals=o.totals,
        delivery_rate=o.delivery_rate,
        bounce_rate=o.bounce_rate,
        queue_depths=o.queue_depths,
    )


HANDLERS = [delivery_stats, overview]
