"""/v1/analytics (read): delivery counts over time and an overview, from the hourly rollups.
Thin: ranges and rates live in domain/analytics.py, reads in services/analytics.py."""

from typing import Annotated, TypeAlias

import msgspec
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, QueryParameter

from iep_appliance.api.inject import Injected
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.services.analytics import AnalyticsService

routes = Routes(tag="analytics", scope="read")


def period_and_filters(
    from_: Annotated[str | None, QueryParameter(name="from")] = None,
    to: FromQuery[str | None] = None,
    queue: FromQuery[str | None] = None,
    category: FromQuery[str | None] = None,
    tag: FromQuery[str | None] = None,
) -> dict[str, str | None]:
    """The query parameters both analytics routes take, as the service reads them."""
    return {"from": from_, "to": to, "queue": queue, "category": category, "tag": tag}


Filters: TypeAlias = NamedDependency[dict[str, str | None]]
"""The `filters` that `period_and_filters` yields."""
FILTERS = {"filters": Provide(period_and_filters, sync_to_thread=False)}


# The period of an answer in time buckets (delivery here, engagement in api/tracking.py):
# DeliveryView and EngagementView begin with these three fields.
class BucketedPeriod(msgspec.Struct, frozen=True, rename="camel"):
    group_by: Annotated[str, msgspec.Meta(description="Bucket size: `hour` or `day`.")]
    from_: Annotated[str, msgspec.Meta(description="Start of the period (ISO 8601).")] = (
        msgspec.field(name="from")
    )
    to: Annotated[str, msgspec.Meta(description="End of the period (ISO 8601).")] = ""


class DeliveryView(BucketedPeriod, frozen=True, rename="camel"):
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
    dependencies=FILTERS,
    summary="Message counts by status over time (hour or day buckets, zero-filled)",
    description="`groupBy=hour|day` (default hour); `from`/`to` ISO dates or date-times "
    "(default: the last 24 h by hour, the last 30 days by day; UTC buckets, `to` exclusive); "
    "filters `queue`, `category`, `tag`. Counts are status changes in each bucket.",
)
async def delivery_stats(
    analytics: Injected[AnalyticsService],
    principal: Caller,
    group_by: Annotated[str | None, QueryParameter(name="groupBy")] = None,
    *,
    filters: Filters,  # keyword-only: it follows a parameter with a default
) -> DeliveryView:
    params = {"groupBy": group_by, **filters}
    stats = await analytics.delivery(principal.tenant_id, params)
    return DeliveryView(
        group_by=stats.query.group_by,
        from_=stats.query.start,
        to=stats.query.end,
        buckets=[{"start": start, **counts} for start, counts in stats.buckets],
    )


@routes.get(
    "/v1/analytics/overview",
    dependencies=FILTERS,
    summary="Totals by status, delivery and bounce rates, and queue depths",
    description="Totals over `from`/`to` (default: the last 30 days), optionally filtered by "
    "`queue`, `category`, `tag`; `deliveryRate` = sent / (sent + failed + bounced), "
    "`bounceRate` = bounced / (sent + failed + bounced), 0 when nothing finished; "
    "`queueDepths` are the messages scheduled, queued and processing now, by queue.",
)
async def overview(
    analytics: Injected[AnalyticsService],
    principal: Caller,
    filters: Filters,
) -> OverviewView:
    o = await analytics.overview(principal.tenant_id, filters)
    return OverviewView(
        from_=o.query.start,
        to=o.query.end,
        totals=o.totals,
        delivery_rate=o.delivery_rate,
        bounce_rate=o.bounce_rate,
        queue_depths=o.queue_depths,
    )


HANDLERS = [delivery_stats, overview]
