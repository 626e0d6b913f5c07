"""/v1/providers (admin, DESIGN §10.4): the tenant's own providers — smtp, ses, sendgrid,
mailgun. Credentials are write-only (encrypted at rest, never in an answer); another tenant's
id is 404. `POST /v1/providers/{id}/test` really connects (SMTP EHLO + AUTH; an API call that
sends nothing) and says which step failed."""

from typing import Annotated

import msgspec
from litestar.params import FromPath, JSONBody

from iep_appliance.api.inject import Injected
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.domain.tenant_providers import (
    ProbeView,
    ProviderCreate,
    ProviderPatch,
    ProviderView,
)
from iep_appliance.services.tenant_providers import TenantProvidersService


class ProviderList(msgspec.Struct, frozen=True, rename="camel"):
    data: Annotated[list[ProviderView], msgspec.Meta(description="The tenant's providers.")]
    next_cursor: Annotated[
        str | None, msgspec.Meta(description="Always null: one page holds them all.")
    ] = None


routes = Routes(tag="providers", scope="admin")


@routes.get("/v1/providers", summary="List the tenant's providers")
async def list_providers(
    principal: Caller, tenant_providers: Injected[TenantProvidersService]
) -> ProviderList:
    return ProviderList(data=await tenant_providers.list(principal.tenant_id))


@routes.post(
    "/v1/providers",
    status_code=201,
    summary="Add a provider of the tenant's own (credentials are write-only)",
    description="`type` smtp | ses | sendgrid | mailgun; `settings` and `credentials` as the"
    " type takes them. Route to it with `routing.primaryProvider` = its id.",
)
async def create_provider(
    principal: Caller,
    tenant_providers: Injected[TenantProvidersService],
    data: JSONBody[ProviderCreate],
) -> ProviderView:
    return await tenant_providers.create(principal.tenant_id, data)


@routes.get("/v1/providers/{provider_id:str}", summary="One provider")
async def get_provider(
    principal: Caller,
    tenant_providers: Injected[TenantProvidersService],
    provider_id: FromPath[str],
) -> ProviderView:
    return await tenant_providers.get(principal.tenant_id, provider_id)


@routes.patch(
    "/v1/providers/{provider_id:str}",
    status_code=200,
    summary="Rename it, or replace its settings or credentials",
)
async def patch_provider(
    principal: Caller,
    tenant_providers: Injected[TenantProvidersService],
    provider_id: FromPath[str],
    data: JSONBody[ProviderPatch],
) -> ProviderView:
    return await tenant_providers.patch(principal.tenant_id, provider_id, data)


@routes.delete("/v1/providers/{provider_id:str}", status_code=204, summary="Delete a provider")
async def delete_provider(
    principal: Caller,
    tenant_providers: Injected[TenantProvidersService],
    provider_id: FromPath[str],
) -> None:
    await tenant_providers.delete(principal.tenant_id, provider_id)


@routes.post(
    "/v1/providers/{provider_id:str}/test",
    status_code=200,
    summary="Connect and authenticate without sending; which step failed",
)
async def test_provider(
    principal: Caller,
    tenant_providers: Injected[TenantProvidersService],
    provider_id: FromPath[str],
) -> ProbeView:
    return await tenant_providers.test(principal.tenant_id, provider_id)


HANDLERS = [
    list_providers, create_provider, get_provider, patch_provider, delete_provider,
    test_provider,
]  # fmt: skip
