"""Assembles the Litestar app for a Runtime. Owns no lifecycle: `runtime.py` does.

Handlers get the services they use by Litestar's dependency injection: a parameter named like
a field of `wiring.Services` (`messages: NamedDependency[MessageService]`) receives that
service; `API_SERVICES` lists which are offered (never the store)."""

from typing import Any

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from iep_appliance import __version__, paths
from iep_appliance.admin import context as admin_context
from iep_appliance.admin import routes as admin_routes
from iep_appliance.admin.auth import install_admin
from iep_appliance.api import (
    analytics,
    audit_logs,
    audit_trail,
    auth,
    batches,
    cancellation,
    domain_checks,
    domains,
    drain,
    gdpr,
    keys,
    messages,
    outbox,
    provider_webhooks,
    providers,
    queues,
    reputation,
    scheduled_jobs,
    strict_input,
    suppressions,
    system,
    tenant,
    timing,
    unsubscribe,
    webhooks,
)
from iep_appliance.api import templates as api_templates
from iep_appliance.api import tracking as api_tracking
from iep_appliance.api.compat import postmark, resend
from iep_appliance.api.fast_send import FastSend
from iep_appliance.api.problems import exception_handlers
from iep_appliance.runtime import Runtime
from iep_appliance.wiring import Services

ROUTE_MODULES: list[Any] = [
    system,
    messages,
    suppressions,
    keys,
    domains,
    domain_checks,
    unsubscribe,
    tenant,
    webhooks,
    scheduled_jobs,
    analytics,
    reputation,
    batches,
    cancellation,
    queues,
    resend,  # /compat/resend (Resend-compatible)
    postmark,  # /email, /email/batch, /messages/outbound/… (Postmark-compatible)
    outbox,
    api_templates,  # /v1/templates (stored templates)
    api_tracking,  # /t/o, /t/c, /v1/analytics/engagement (open/click tracking)
    audit_logs,  # /v1/audit-logs
    gdpr,  # /v1/gdpr
    provider_webhooks,  # /webhooks/{ses|sendgrid|mailgun}[/{name}]
    providers,  # /v1/providers (a tenant's own providers)
    admin_routes,  # /admin dashboard (templates and /admin/static: build_app)
]


API_SERVICES = (
    "keys", "messages", "rate_limits", "suppressions", "domains", "domain_checks", "dkim_keys",
    "reputation", "compat", "batches", "queues", "scheduled_jobs", "analytics", "outbox",
    "webhooks", "tenant_settings", "inbound", "health", "operators", "dashboard",
    "dashboard_actions", "connect", "templates", "tracking", "audit", "gdpr",
    "tenant_providers", "provider_events",
)  # fmt: skip


def dependencies(services: Services) -> dict[str, Provide]:
    """One Litestar dependency per service handlers may ask for by name."""

    def constant(value: object) -> Provide:
        return Provide(lambda: value, use_cache=True, sync_to_thread=False)

    return {name: constant(getattr(services, name)) for name in API_SERVICES}


def dashboard_services(s: Services) -> admin_context.DashboardServices:
    return admin_context.DashboardServices(
        operators=s.operators,
        keys=s.keys,
        domains=s.domains,
        domain_checks=s.domain_checks,
        webhooks=s.webhooks,
        suppressions=s.suppressions,
        queues=s.queues,
        scheduled_jobs=s.scheduled_jobs,
        reputation=s.reputation,
        tenant_settings=s.tenant_settings,
        inbound=s.inbound,
        rate_limits=s.rate_limits,
        health=s.health,
        connect=s.connect,
        messages=s.messages,
        templates=s.templates,
        tracking=s.tracking,
        audit=s.audit,
        gdpr=s.gdpr,
        tenant_providers=s.tenant_providers,
        nodes=s.nodes,
    )


# The docs UI's assets are served by the appliance itself (webui/static, vendored from the npm
# package swagger-ui-dist, the version in each file name): /schema works offline and loads
# nothing from a CDN (DESIGN §10.1). Swagger UI is the only docs UI enabled.
SWAGGER_UI_VERSION = "5.18.2"
_STATIC = "/admin/static"


def _swagger_ui() -> SwaggerRenderPlugin:
    v = SWAGGER_UI_VERSION
    return SwaggerRenderPlugin(
        js_url=f"{_STATIC}/swagger-ui-bundle-{v}.js",
        css_url=f"{_STATIC}/swagger-ui-{v}.css",
        standalone_preset_js_url=f"{_STATIC}/swagger-ui-standalone-preset-{v}.js",
        favicon="<link rel='icon' href='data:,'>",  # Litestar's default is a CDN image
    )


def build_app(runtime: Runtime, extra_handlers: list[Any] | None = None) -> Litestar:
    s = runtime.services
    handlers: list[Any] = []
    for module in ROUTE_MODULES:
        handlers.extend(module.HANDLERS)
    handlers.extend(extra_handlers or [])
    handlers.append(admin_routes.static_files(paths.static_dir()))
    handlers.append(admin_routes.favicon(paths.static_dir()))
    app = Litestar(
        route_handlers=handlers,
        exception_handlers=exception_handlers(s.clock.now),
        before_request=strict_input.unknown_query_guard,
        middleware=[timing.middleware(s.health), audit_trail.middleware(s.audit)],
        dependencies=dependencies(s),
        request_max_body_size=s.config.server.max_request_bytes,
        openapi_config=OpenAPIConfig(
            title="IEP appliance",
            version=__version__,
            description="Multi-tenant email platform API. Auth: `x-api-key` or Bearer.",
            path="/schema",
            render_plugins=[_swagger_ui()],
        ),
        template_config=admin_routes.template_config(paths.templates_dir()),
        debug=False,
        logging_config=None,
    )
    install_admin(app, s.clock, s.admin_sessions, s.dashboard, s.dashboard_actions)
    admin_context.install(app, dashboard_services(s))
    limit = s.config.server.max_request_bytes
    app.asgi_handler = FastSend(  # in front of the router: the hot path skips it
        app.asgi_handler,
        keys=s.keys,
        messages=s.messages,
        rate_limits=s.rate_limits,
        health=s.health,
        max_request_bytes=limit,
        trusted_proxies=s.trusted_proxies,
    )
    strict_input.install(app, s.health, limit)  # in front of the fast path: strict bodies only
    auth.install(app, s.trusted_proxies)  # whose X-Forwarded-For names the client
    app.asgi_handler = s.tracing.asgi(app.asgi_handler)  # unchanged when tracing is off
    drain.install(app)  # outermost: the SIGTERM drain sees every request first
    return app
