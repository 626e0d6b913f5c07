"""/v1/domains (admin): the tenant's sender domains (exact match). One added here is
`pending` until verified (DESIGN §4.1, §10.3); another tenant's domain is a 409."""

import msgspec
from litestar import Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from iep_appliance.api.auth import needs
from iep_appliance.domain.models import DomainStatus, Principal, SenderDomain
from iep_appliance.runtime import Runtime


class DomainView(msgspec.Struct, frozen=True, rename="camel"):
    domain: str
    status: DomainStatus
    verified: bool
    created_at: str


class DomainList(msgspec.Struct, frozen=True, rename="camel"):
    data: list[DomainView]
    next_cursor: str | None = None


class DomainIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    domain: str
    dkim_algorithm: str | None = None  # "rsa" (default) | "ed25519" (issue 16)


def _rt(request: Request) -> Runtime:
    return request.app.state.runtime


def view(d: SenderDomain) -> DomainView:
    return DomainView(
        domain=d.domain,
        status=d.status,
        verified=d.status == "verified",
        created_at=d.created_at,
    )


@get(
    "/v1/domains",
    dependencies={"principal": needs("admin")},
    summary="List allowed sender domains",
    tags=["domains"],
)
async def list_domains(request: Request, principal: NamedDependency[Principal]) -> DomainList:
    found = await _rt(request).domains.list_all(principal.tenant_id)
    return DomainList(data=[view(d) for d in found])


@post(
    "/v1/domains",
    dependencies={"principal": needs("admin")},
    status_code=201,
    summary="Add a sender domain: pending until verified (a subdomain is listed itself)",
    description="A domain another tenant lists is refused with 409. Sending from a pending"
    " domain is refused with 403 naming `from.email`.",
    tags=["domains"],
)
async def add_domain(
    request: Request, principal: NamedDependency[Principal], data: JSONBody[DomainIn]
) -> DomainView:
    return view(
        await _rt(request).domains.request(principal.tenant_id, data.domain, data.dkim_algorithm)
    )


@delete(
    "/v1/domains/{domain:str}",
    dependencies={"principal": needs("admin")},
    status_code=204,
    summary="Remove an allowed sender domain",
    tags=["domains"],
)
async def remove_domain(
    request: Request, principal: NamedDependency[Principal], domain: FromPath[str]
) -> None:
    await _rt(request).domains.remove(principal.tenant_id, domain)


HANDLERS = [list_domains, add_domain, remove_domain]
