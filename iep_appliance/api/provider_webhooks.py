"""`POST /webhooks/{ses|sendgrid|mailgun}` and `/webhooks/{type}/{provider name}` (DESIGN §10.4):
provider events, verified by each provider's signature (no API key: the signature is the
proof). 401 problem when unsigned or wrongly signed (nothing recorded), 400 when the body is not
the provider's JSON, 404 for an unknown type or name; else 200 with what was kept."""

from typing import Any

from litestar import Request, post
from litestar.params import FromPath

from iep_appliance.api.inject import Injected
from iep_appliance.services.provider_webhooks import ProviderEventsService


async def _receive(
    request: Request, events: ProviderEventsService, kind: str, name: str | None
) -> dict[str, Any]:
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    return await events.receive(kind, name, headers, body)


@post(
    "/webhooks/{kind:str}",
    status_code=200,
    tags=["provider events"],
    summary="Events from the one provider of this type (SES via SNS, SendGrid, Mailgun)",
)
async def provider_events(
    request: Request, provider_events: Injected[ProviderEventsService], kind: FromPath[str]
) -> dict[str, Any]:
    return await _receive(request, provider_events, kind, None)


@post("/webhooks/{kind:str}/{name:str}", status_code=200, tags=["provider events"],
      summary="Events from the provider of this type and name")  # fmt: skip
async def named_provider_events(
    request: Request,
    provider_events: Injected[ProviderEventsService],
    kind: FromPath[str],
    name: FromPath[str],
) -> dict[str, Any]:
    return await _receive(request, provider_events, kind, name)


HANDLERS = [provider_events, named_provider_events]
