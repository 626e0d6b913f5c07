"""One send, from an authenticated principal and a decoded body to the status and view.

Shared by the Litestar handler (api/messages.py) and the ASGI fast path (api/fast_send.py),
so the two cannot drift: rate reservation and its refund, accept, the log correlation.
"""

from iep_appliance.api.schemas import AcceptedView
from iep_appliance.domain.models import Accepted, Principal, SendRequest
from iep_appliance.logs import message_id_var
from iep_appliance.services.messages import MessageService
from iep_appliance.services.ratelimits import RateLimitService


async def accept_send(
    messages: MessageService,
    rate_limits: RateLimitService,
    principal: Principal,
    data: SendRequest,
    idempotency_key: str | None,
    origin: str = "api",
) -> tuple[int, AcceptedView, dict[str, str]]:
    """(202 or 200 for a replayed idempotency key, the body, rate-limit headers). `origin`:
    how the send arrived (api, resend, postmark), recorded with the message."""
    headers = await rate_limits.check(principal, 1)
    try:
        result = await messages.accept(principal, data, idempotency_key, origin=origin)
    except BaseException:
        rate_limits.release(principal, 1)  # a rejected request sends nothing, so counts nothing
        raise
    if isinstance(result, Accepted):
        message_id_var.set(result.message_id)  # correlates the request's log line
    else:
        rate_limits.release(principal, 1)  # a replay sends nothing
    view = AcceptedView(
        message_id=result.message_id,
        status=result.status,
        suppressed_recipients=list(result.suppressed),
    )
    return (202 if isinstance(result, Accepted) else 200), view, headers
