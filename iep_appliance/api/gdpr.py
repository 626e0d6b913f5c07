"""/v1/gdpr (admin): export everything of the tenant naming an address, erase it, and the
erase requests (DESIGN §10.5). A malformed address → 422 naming `email`."""

from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.params import FromPath

from iep_appliance.api.inject import Injected
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.domain.gdpr import GdprRequest
from iep_appliance.services.gdpr import GdprService

routes = Routes(tag="gdpr", scope="admin")


class EraseAccepted(msgspec.Struct, frozen=True, rename="camel"):
    request_id: Annotated[str, msgspec.Meta(description="The erase request's id.")]


class RequestView(msgspec.Struct, frozen=True, rename="camel"):
    id: Annotated[str, msgspec.Meta(description="The request's id.")]
    kind: Annotated[str, msgspec.Meta(description="`erase`.")]
    email_hash: Annotated[
        str, msgspec.Meta(description="The address as `sha256:…` (the address is not kept).")
    ]
    state: Annotated[
        str,
        msgspec.Meta(
            description="`pending` (rows gone, files and compaction running), `done`, `failed`."
        ),
    ]
    counts: Annotated[dict[str, int], msgspec.Meta(description="Rows removed, per table.")]
    requested_at: Annotated[str, msgspec.Meta(description="When it was asked for (ISO 8601).")]
    finished_at: Annotated[str | None, msgspec.Meta(description="When it finished.")]


class RequestList(msgspec.Struct, frozen=True, rename="camel"):
    data: Annotated[list[RequestView], msgspec.Meta(description="Newest first.")]


def view(r: GdprRequest) -> RequestView:
    return RequestView(
        id=r.id,
        kind=r.kind,
        email_hash=r.email_hash,
        state=r.state,
        counts=r.counts,
        requested_at=r.requested_at,
        finished_at=r.finished_at,
    )


@routes.get(
    "/v1/gdpr/export/{email:str}",
    summary="Everything of the tenant naming an address, as one JSON document",
)
async def export_address(
    gdpr: Injected[GdprService], principal: Caller, email: FromPath[str]
) -> Response[dict[str, Any]]:
    found = await gdpr.export(principal.tenant_id, email)
    name = "gdpr-export.json"
    return Response(found, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@routes.delete(
    "/v1/gdpr/{email:str}",
    status_code=202,
    summary="Erase an address: messages, copies, attachments, events, webhook logs",
    description="The rows are gone when this answers; attachment files and the database's"
    " compaction follow (the request's `state` becomes `done`). The address stays suppressed"
    " by its hash.",
)
async def erase_address(
    gdpr: Injected[GdprService], principal: Caller, email: FromPath[str]
) -> EraseAccepted:
    found = await gdpr.erase(principal.tenant_id, email)
    return EraseAccepted(request_id=found.id)


@routes.get("/v1/gdpr/requests", summary="The tenant's GDPR erase requests, newest first")
async def list_requests(
    request: Request, gdpr: Injected[GdprService], principal: Caller
) -> RequestList:
    found = await gdpr.requests(principal.tenant_id)
    return RequestList(data=[view(r) for r in found])


HANDLERS = [list_requests, export_address, erase_address]
