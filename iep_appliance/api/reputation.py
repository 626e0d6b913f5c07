"""GET /v1/analytics/reputation (read; DESIGN §10.3): the tenant's bounce and complaint rates
over `[reputation] window_days` and the state they put it in."""

from typing import Annotated

import msgspec
from msgspec import Meta

from iep_appliance.api.inject import Injected
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.services.reputation import ReputationService

routes = Routes(tag="analytics", scope="read")


class ReputationView(msgspec.Struct, frozen=True, rename="camel"):
    bounce_rate: Annotated[float, Meta(description="Bounced / (sent + bounced) messages.")]
    complaint_rate: Annotated[float, Meta(description="Complaints / (sent + bounced) messages.")]
    window_days: Annotated[int, Meta(description="The rolling window, in days.")]
    state: Annotated[str, Meta(description='"ok" | "warning" | "paused".')]
    messages: Annotated[int, Meta(description="Messages sent or bounced in the window.")]
    bounces: Annotated[int, Meta(description="Of them, bounced.")]
    complaints: Annotated[int, Meta(description="Complaints received about them.")]


@routes.get(
    "/v1/analytics/reputation", summary="Bounce and complaint rates over the reputation window"
)
async def reputation(reputation: Injected[ReputationService], principal: Caller) -> ReputationView:
    r = await reputation.of(principal.tenant_id)
    return ReputationView(
        bounce_rate=r.bounce_rate,
        complaint_rate=r.complaint_rate,
        window_days=r.window_days,
        state=r.state,
        messages=r.messages,
        bounces=r.bounces,
        complaints=r.complaints,
    )


HANDLERS = [reputation]
