"""/v1/domains (admin): the tenant's sender domains (exact match). One added here is
`pending` until verified (DESIGN §4.1, §10.3); another tenant's domain is a 409."""

from typing import Annotated

import msgspec
from litestar import Request
from litestar.params import FromPath, JSONBody

from iep_appliance.api.fields import CreatedAt
from iep_appliance.api.inject import Injected
from iep_appliance.api.pages import NextCursor, PageItems
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.domain.models import DomainStatus, SenderDomain
from iep_appliance.services.domains import DomainService

routes = Routes(tag="domains", scope="admin")


class DomainView(msgspec.Struct, frozen=True, rename="camel"):
    domain: Annotated[str, msgspec.Meta(description="The sender domain.")]
    status: Annotated[
        DomainStatus,
        msgspec.Meta(
            description="`pending` until verified (tenant-added), `verified` when usable."
        ),
    ]
    verified: Annotated[
        bool, msgspec.Meta(description="Whether the domain may be used as a sender now.")
    ]
    created_at: CreatedAt


class DomainList(msgspec.Struct, frozen=True, rename="camel"):
    data: PageItems[DomainView]
    next_cursor: NextCursor = None


class DomainIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    domain: Annotated[
        str, msgspec.Meta(description="Sender domain to allow (IDNA names are accepted).")
    ]
    dkim_algorithm: Annotated[
        str | None,
        msgspec.Meta(description="DKIM key type: `rsa` (2048 bits, default) or `ed25519`."),
    ] = None


def view(d: SenderDomain) -> DomainView:
    return DomainView(
        domain=d.domain,
        status=d.status,
        verified=d.status == "verified",
        created_at=d.created_at,
    )


@routes.get("/v1/domains", summary="List allowed sender domains")
async def list_domains(
    request: Request, domains: Injected[DomainService], principal: Caller
) -> DomainList:
    found = await domains.list_all(principal.tenant_id)
    return DomainList(data=[view(d) for d in found])


@routes.post(
    "/v1/domains",
    status_code=201,
    summary="Add a sender domain: pending until verified (a subdomain is listed itself)",
    description="A domain another tenant lists is refused with 409. Sending from a pending"
    " domain is refused with 403 naming `from.email`.",
)
async def add_domain(
    request: Request, domains: Injected[DomainService], principal: Caller, data: JSONBody[DomainIn]
) -> DomainView:
    return view(await domains.request(principal.tenant_id, data.domain, data.dkim_algorithm))


@routes.delete(
    "/v1/domains/{domain:str}", status_code=204, summary="Remove an allowed sender domain"
)
async def remove_domain(
    domains: Injected[DomainService], principal: Caller, domain: FromPath[str]
) -> None:
    await domains.remove(principal.tenant_id, domain)


HANDLERS = [list_domains, add_domain, remove_domain]
