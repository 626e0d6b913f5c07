"""Open and click tracking (DESIGN §10.5): `GET /t/o/{token}.gif` (the pixel),
`GET /t/c/{token}` (302 to a link of that message, read from the message, never from the
request), and `GET /v1/analytics/engagement` (read). The tracking routes need no API key: the
signed token is the capability; a forged or altered token is 404 and records nothing."""

from typing import Annotated

import msgspec
from litestar import Request, get
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Response

from iep_appliance.api.analytics import BucketedPeriod
from iep_appliance.api.auth import needs
from iep_appliance.api.inject import Injected
from iep_appliance.api.routes import Caller
from iep_appliance.domain.errors import NotFound
from iep_appliance.domain.tracking import PIXEL_GIF
from iep_appliance.services.tracking import TrackingService

_NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}


class EngagementView(BucketedPeriod, frozen=True, rename="camel"):
    totals: Annotated[
        dict[str, int], msgspec.Meta(description="The counts of the buckets summed.")
    ] = {}
    buckets: Annotated[
        list[dict[str, int | str]],
        msgspec.Meta(
            description="Per bucket: `start`, `opens`, `uniqueOpens`, `botOpens`, `clicks`,"
            " `uniqueClicks`, `botClicks` (bots are counted in opens/clicks, never unique)."
        ),
    ] = []


def _agent(request: Request) -> str:
    return request.headers.get("user-agent", "")


@get("/t/o/{token:str}", tags=["tracking"], summary="The open-tracking pixel (`{token}.gif`)",
     description="A 1x1 GIF; records an `opened` event (404 for a token not genuine).")  # fmt: skip
async def pixel(
    request: Request, tracking: Injected[TrackingService], token: FromPath[str]
) -> Response[bytes]:
    if not token.endswith(".gif") or not await tracking.opened(
        token.removesuffix(".gif"), _agent(request)
    ):
        raise NotFound("Tracking link not found")
    return Response(PIXEL_GIF, media_type="image/gif", headers=_NO_STORE)


@get("/t/c/{token:str}", tags=["tracking"], summary="A tracked link: 302 to its URL",
     description="Records a `clicked` event and redirects to the link of that message the"
     " token names; 404 (nothing recorded) for a token that is not genuine.")  # fmt: skip
async def click(
    request: Request, tracking: Injected[TrackingService], token: FromPath[str]
) -> Redirect:
    url = await tracking.clicked(token, _agent(request))
    if url is None:
        raise NotFound("Tracking link not found")
    return Redirect(path=url, status_code=302, headers=_NO_STORE)


@get(
    "/v1/analytics/engagement",
    dependencies={"principal": needs("read")},
    summary="Opens and clicks over time (hour or day buckets, zero-filled)",
    description="`groupBy=hour|day` (default hour); `from`/`to` ISO dates or date-times "
    "(default: the last 24 h by hour, the last 30 days by day; UTC buckets, `to` exclusive).",
    tags=["analytics"],
)
async def engagement(
    request: Request,
    tracking: Injected[TrackingService],
    principal: Caller,
    group_by: Annotated[str | None, QueryParameter(name="groupBy")] = None,
    from_: Annotated[str | None, QueryParameter(name="from")] = None,
    to: FromQuery[str | None] = None,
) -> EngagementView:
    params = {"groupBy": group_by, "from": from_, "to": to}
    found = await tracking.engagement(principal.tenant_id, params)
    return EngagementView(
        group_by=found.query.group_by,
        from_=found.query.start,
        to=found.query.end,
        totals=found.totals,
        buckets=[{"start": start, **counts} for start, counts in found.buckets],
    )


HANDLERS = [pixel, click, engagement]
