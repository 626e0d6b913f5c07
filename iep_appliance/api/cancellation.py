"""POST /v1/messages/{id}/cancel: stop a scheduled or queued message before it is sent.

(A batch's cancel is in api/batches.py.) Thin: the rule lives in the store's transaction."""

from typing import Annotated

import msgspec
from litestar.params import FromPath

from iep_appliance.api.fields import MessageId
from iep_appliance.api.inject import Injected
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.services.messages import MessageService

routes = Routes(tag="messages", scope="send")


class CancelledView(msgspec.Struct, frozen=True, rename="camel"):
    message_id: MessageId
    status: Annotated[str, msgspec.Meta(description="The message's status now: `cancelled`.")]


@routes.post(
    "/v1/messages/{message_id:str}/cancel",
    status_code=200,
    summary="Cancel a scheduled or queued message that has not started",
    description="The message becomes `cancelled` (with a `cancelled` event) and is never sent. "
    "409 once sending began (or the message already ended); cancelling again answers 200.",
)
async def cancel_message(
    messages: Injected[MessageService], principal: Caller, message_id: FromPath[str]
) -> CancelledView:
    await messages.cancel(principal.tenant_id, message_id)
    return CancelledView(message_id=message_id, status="cancelled")


HANDLERS = [cancel_message]
