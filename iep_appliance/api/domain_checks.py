"""/v1/domains/{domain} detail, DNS verification and DKIM rotation (admin; DESIGN §10.3)."""

from typing import Annotated

import msgspec
from litestar.params import FromPath, JSONBody
from msgspec import Meta

from iep_appliance.api.inject import Injected
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.services.dkim_keys import DkimKeyService
from iep_appliance.services.domain_checks import DomainCheckService, DomainDetail

routes = Routes(tag="domains", scope="admin")


class DkimView(msgspec.Struct, frozen=True, rename="camel"):
    selector: Annotated[str, Meta(description="DKIM selector (s=), e.g. iep1.")]
    algorithm: Annotated[str, Meta(description='"rsa" (2048 bits) or "ed25519".')]
    public_key: Annotated[str, Meta(description="The p= value published in DNS (base64).")]


class RecordView(msgspec.Struct, frozen=True, rename="camel"):
    type: Annotated[str, Meta(description='"TXT" or "MX".')]
    name: Annotated[str, Meta(description="The DNS name to publish the record at.")]
    value: Annotated[str, Meta(description="The record's value, to copy as is.")]
    purpose: Annotated[str, Meta(description='"spf" | "dkim" | "dmarc" | "return_path".')]
    status: Annotated[
        str,
        Meta(
            description='"pending" (not checked) | "verified" | "missing" | "mismatch" | "error".'
        ),
    ]
    found: Annotated[
        str | None, Meta(description="What DNS holds instead (mismatch), or the DNS error.")
    ] = None


class DomainDetailView(msgspec.Struct, frozen=True, rename="camel"):
    domain: Annotated[str, Meta(description="The sender domain (lower case).")]
    status: Annotated[str, Meta(description='"pending" | "verified" | "failed".')]
    dkim: Annotated[DkimView | None, Meta(description="The key that signs mail now.")]
    next_dkim: Annotated[
        DkimView | None,
        Meta(description="A rotation's key, signing once DNS shows its record."),
    ]
    records: Annotated[list[RecordView], Meta(description="Every record to publish.")]
    reason: Annotated[
        str | None, Meta(description="Why the last check did not verify (or could not run).")
    ]
    verified_at: Annotated[str | None, Meta(description="When DNS first verified it.")]
    last_checked_at: Annotated[str | None, Meta(description="When DNS was last checked.")]


class RotateIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    algorithm: Annotated[
        str | None, Meta(description='Key type of the new key ("rsa" or "ed25519"); default: same.')
    ] = None


def detail_view(d: DomainDetail) -> DomainDetailView:
    def dkim(k: object) -> DkimView | None:
        if k is None:
            return None
        return DkimView(k.selector, k.algorithm, k.public_key)  # type: ignore[attr-defined]

    return DomainDetailView(
        domain=d.domain,
        status=d.status,
        dkim=dkim(d.dkim),
        next_dkim=dkim(d.next_dkim),
        records=[
            RecordView(r.type, r.name, r.value, r.purpose, r.status, r.found) for r in d.records
        ],
        reason=d.reason,
        verified_at=d.verified_at,
        last_checked_at=d.last_checked_at,
    )


@routes.get(
    "/v1/domains/{domain:str}",
    summary="A sender domain: its status, DKIM key and the DNS records to publish",
)
async def get_domain(
    domain_checks: Injected[DomainCheckService], principal: Caller, domain: FromPath[str]
) -> DomainDetailView:
    return detail_view(await domain_checks.detail(principal.tenant_id, domain))


@routes.post(
    "/v1/domains/{domain:str}/verify",
    status_code=200,
    summary="Check the domain's DNS records now",
    description="A DNS timeout or SERVFAIL keeps the status and shows why in `reason`.",
)
async def verify_domain(
    domain_checks: Injected[DomainCheckService], principal: Caller, domain: FromPath[str]
) -> DomainDetailView:
    return detail_view(await domain_checks.verify(principal.tenant_id, domain))


@routes.post(
    "/v1/domains/{domain:str}/dkim/rotate",
    status_code=201,
    summary="Make a new DKIM key under the other selector",
    description="The new key (`nextDkim`) signs once DNS shows its record; the old one keeps"
    " signing until then. 409 while an earlier rotation still waits for DNS.",
)
async def rotate_dkim(
    domain_checks: Injected[DomainCheckService],
    dkim_keys: Injected[DkimKeyService],
    principal: Caller,
    domain: FromPath[str],
    data: JSONBody[RotateIn | None] = None,
) -> DomainDetailView:
    await domain_checks.detail(
        principal.tenant_id, domain
    )  # 404 for a domain the tenant does not list
    await dkim_keys.rotate(domain.lower(), data.algorithm if data else None)
    return detail_view(await domain_checks.detail(principal.tenant_id, domain))


HANDLERS = [get_domain, verify_domain, rotate_dkim]
