"""Assembles the Litestar app for a Runtime. Owns no lifecycle: `runtime.py` does."""

import time
from typing import Any

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.types import ASGIApp, Receive, Scope, Send

from iep_appliance import __version__, paths
from iep_appliance.admin import routes as admin_routes
from iep_appliance.api import (
    analytics,
    batches,
    cancellation,
    domain_checks,
    domains,
    drain,
    fast_send,
    keys,
    messages,
    outbox,
    provider_webhooks,  # h-providers (issue 17)
    providers,  # h-providers (issue 17)
    queues,
    reputation,
    scheduled_jobs,
    strict_input,
    suppressions,
    system,
    tenant,
    unsubscribe,
    webhooks,
)
from iep_appliance.api.compat import postmark, resend
from iep_appliance.api.problems import EXCEPTION_HANDLERS
from iep_appliance.logs import message_id_var, tenant_id_var
from iep_appliance.runtime import Runtime

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
    provider_webhooks,  # h-providers: /webhooks/{ses|sendgrid|mailgun}[/{name}]
    providers,  # h-providers: /v1/providers
    admin_routes,  # /admin dashboard (templates and /admin/static: build_app)
]


def _timing_middleware(app: ASGIApp) -> ASGIApp:
    """Request latency into `iep_http_request_duration_seconds` and one access log line."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]
        # A fresh correlation per request, whatever task served the previous one.
        message_token = message_id_var.set(None)
        tenant_token = tenant_id_var.set(None)

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            runtime: Runtime = scope["app"].state.runtime
            handler = scope.get("route_handler")
            route = next(iter(handler.paths)) if handler is not None else "unmatched"
            runtime.observe_request(
                scope["method"], route, status[0], time.perf_counter() - start, scope["path"]
            )
            message_id_var.reset(message_token)
            tenant_id_var.reset(tenant_token)

    return middleware


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
    handlers: list[Any] = []
    for module in ROUTE_MODULES:
        handlers.extend(module.HANDLERS)
    handlers.extend(extra_handlers or [])
    handlers.extend(runtime.extra_handlers)
    handlers.append(admin_routes.static_files(paths.static_dir()))
    handlers.append(admin_routes.favicon(paths.static_dir()))
    app = Litestar(
        route_handlers=handlers,
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=strict_input.unknown_query_guard,
        middleware=[_timing_middleware],
        request_max_body_size=runtime.config.server.max_request_bytes,
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
    app.state.runtime = runtime
    fast_send.install(app, runtime)
    strict_input.install(app, runtime)  # in front of the fast path: it sees only strict bodies
    drain.install(app)  # outermost: the SIGTERM drain sees every request first
    return app
