"""Runtime wiring of issue 17 (providers beyond SMTP): provider event webhooks, tenant
providers and their place in the delivery engine's routing.

h-providers: called from Runtime (`init` in __init__, `start` once the delivery engine
exists); the lead folds it into the typed wiring function at merge.
"""

import logging
from typing import TYPE_CHECKING, Any

import msgspec

from iep_appliance.config import ProviderConfig
from iep_appliance.config_http_providers import (
    HTTP_PROVIDER_TYPES,
    MailgunProviderConfig,
    SendgridProviderConfig,
    SesProviderConfig,
)
from iep_appliance.delivery.providers.http_registry import build_http_provider
from iep_appliance.delivery.providers.smtp_probe import ProbedSmtpProvider
from iep_appliance.domain.breaker import Breaker
from iep_appliance.domain.errors import FieldError, ValidationFailed
from iep_appliance.domain.tenant_providers import TenantProviderRecord, config_table
from iep_appliance.logs import event
from iep_appliance.services.provider_webhooks import ProviderEventsService, WebhookSource
from iep_appliance.services.tenant_providers import TenantProvidersService

if TYPE_CHECKING:
    from iep_appliance.runtime import Runtime

log = logging.getLogger("iep.providers")


def build_tenant_provider(record: TenantProviderRecord, credentials: dict[str, str]) -> Any:
    """The provider object of a tenant's provider (named by its id, as routing names it)."""
    table = config_table(record.type, record.settings, credentials)
    kind = HTTP_PROVIDER_TYPES.get(record.type, ProviderConfig)
    try:
        cfg = msgspec.convert(table, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise ValidationFailed([FieldError("settings", str(exc))]) from None
    built = build_http_provider(record.id, cfg)
    if built is not None:
        return built
    return ProbedSmtpProvider(record.id, cfg)


def _operator_sources(rt: "Runtime") -> list[WebhookSource]:
    out = []
    for name, p in rt.config.providers.items():
        if isinstance(p, SesProviderConfig):
            out.append(WebhookSource(name=name, type="ses",
                                     sns_cert_url_pattern=p.sns_cert_url_pattern))  # fmt: skip
        elif isinstance(p, SendgridProviderConfig):
            out.append(WebhookSource(name=name, type="sendgrid",
                                     sendgrid_public_key=p.webhook_public_key))  # fmt: skip
        elif isinstance(p, MailgunProviderConfig):
            out.append(WebhookSource(name=name, type="mailgun",
                                     mailgun_signing_key=p.webhook_signing_key))  # fmt: skip
    return out


async def _sources(rt: "Runtime") -> list[WebhookSource]:
    """The operator's HTTP providers, then each tenant's (named by id, its mail only)."""
    out = _operator_sources(rt)
    service: TenantProvidersService = rt.tenant_providers
    for record in await rt.store.all_tenant_providers():
        if record.type not in ("ses", "sendgrid", "mailgun"):
            continue
        s, creds = record.settings, service.credentials(record)
        out.append(
            WebhookSource(
                name=record.id,
                type=record.type,
                sns_cert_url_pattern=str(
                    s.get("snsCertUrlPattern", SesProviderConfig().sns_cert_url_pattern)
                ),
                sendgrid_public_key=str(s.get("webhookPublicKey", "")),
                mailgun_signing_key=creds.get("webhookSigningKey", ""),
                tenant_id=record.tenant_id,
            )
        )
    return out


def init(rt: "Runtime") -> None:
    """Services of issue 17 on the runtime: `rt.tenant_providers`, `rt.provider_events`."""
    rt.tenant_providers = TenantProvidersService(
        rt.store, rt.clock, rt.secret_box, build_tenant_provider,
        lambda tenant, pid, provider: _route(rt, pid, provider),
    )  # fmt: skip

    async def sources() -> list[WebhookSource]:
        return await _sources(rt)

    rt.provider_events = ProviderEventsService(
        rt.store,
        sources,
        hard_bounces=rt.config.suppression.hard_bounces,
        on_effects=rt._on_inbound_effects,
    )
    rt.tenant_settings.own_providers = rt.tenant_providers.route_names


async def start(rt: "Runtime") -> None:
    """Put every tenant provider into the delivery engine's routing."""
    if rt.delivery is None:
        return
    for record, provider in await rt.tenant_providers.all_built():
        await _route(rt, record.id, provider)


async def _route(rt: "Runtime", provider_id: str, provider: Any) -> None:
    engine = rt.delivery
    if engine is None:
        if provider is not None:
            await provider.aclose()
        return
    router = engine.router
    old = engine.providers.pop(provider_id, None)
    if old is not None:
        engine._retired.append(old)  # closed at stop (sends in flight may still use it)
    if provider is None:
        router.breakers.pop(provider_id, None)
        event(log, "tenant_provider.removed", provider=provider_id)
        return
    engine.providers[provider_id] = provider
    cfg = rt.config.breaker
    if provider_id not in router.breakers:
        router.breakers[provider_id] = Breaker(
            error_rate=cfg.error_rate,
            min_requests=cfg.min_requests,
            window_seconds=cfg.window_seconds,
            cooldown_seconds=cfg.cooldown_seconds,
        )
    engine._routing.clear()  # cached tenant routing: read again
    event(log, "tenant_provider.routed", provider=provider_id, type=provider.kind)
