"""/v1/tenant (admin): the calling tenant's own settings (DESIGN §4.1 shape), GET and PATCH.

PATCH takes any subset of the shape, merged key by key and validated like config; errors
name the field (`rateLimits.maxPerMinute`, `routing.primaryProvider`)."""

from typing import Annotated, Any

import msgspec
from litestar.params import JSONBody

from iep_appliance.api.fields import ItsId
from iep_appliance.api.inject import Injected
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.domain.models import AttachmentLimits, RateLimits, Routing, Tenant
from iep_appliance.domain.tracking import TrackingOptions
from iep_appliance.services.tenant_settings import TenantSettingsService

routes = Routes(tag="tenant", scope="admin")


class TenantView(msgspec.Struct, frozen=True, rename="camel"):
    id: ItsId
    slug: Annotated[str, msgspec.Meta(description="The tenant's short name (unique).")]
    name: Annotated[str, msgspec.Meta(description="The tenant's display name.")]
    active: Annotated[
        bool, msgspec.Meta(description="False when the operator has deactivated the tenant.")
    ]
    sandbox: Annotated[
        bool, msgspec.Meta(description="Every message of the tenant goes to the outbox.")
    ]
    rate_limits: Annotated[RateLimits, msgspec.Meta(description="The tenant's send limits.")]
    attachments: Annotated[
        AttachmentLimits, msgspec.Meta(description="The tenant's attachment limits.")
    ]
    routing: Annotated[
        Routing, msgspec.Meta(description="Which providers deliver the tenant's messages.")
    ]
    unsubscribe: Annotated[
        bool,
        msgspec.Meta(
            description="One-click unsubscribe headers on every send that does not set"
            " `unsubscribe` itself."
        ),
    ] = False
    tracking: Annotated[
        TrackingOptions,
        msgspec.Meta(description="Open/click tracking of sends that do not set `tracking`."),
    ] = TrackingOptions()
    strict_variables: Annotated[
        bool,
        msgspec.Meta(description="`strictVariables` of sends that do not set it."),
    ] = False


def view(t: Tenant) -> TenantView:
    return TenantView(
        id=t.id,
        slug=t.slug,
        name=t.name,
        active=t.active,
        sandbox=t.settings.sandbox,
        rate_limits=t.settings.rate_limits,
        attachments=t.settings.attachments,
        routing=t.settings.routing,
        unsubscribe=t.settings.unsubscribe,
        tracking=t.settings.content.tracking,
        strict_variables=t.settings.content.strict_variables,
    )


@routes.get("/v1/tenant", summary="The calling tenant and its settings")
async def get_tenant(
    tenant_settings: Injected[TenantSettingsService], principal: Caller
) -> TenantView:
    return view(await tenant_settings.get(principal.tenant_id))


@routes.patch(
    "/v1/tenant",
    summary="Change settings: any subset of the GET shape, merged",
    description="Objects merge key by key; null clears a limit or a routing choice "
    "(back to the `[limits]` / `[routing]` defaults). 422 names each bad field. A sandbox"
    " key cannot change `sandbox` or `routing` (403 naming them).",
)
async def patch_tenant(
    tenant_settings: Injected[TenantSettingsService],
    principal: Caller,
    data: JSONBody[dict[str, Any]],
) -> TenantView:
    service = tenant_settings
    return view(await service.patch(principal.tenant_id, data, principal.sandbox))


HANDLERS = [get_tenant, patch_tenant]
