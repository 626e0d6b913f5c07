"""Every /admin route with the least role it needs (DESIGN §4.2), as one Litestar Router.

`guard` (auth.py) runs before each handler: `public` routes need nothing; the others need a
session, and their role; every POST needs the session's CSRF token. Errors render as HTML
pages here, not as the API's problem+json. app.py adds `HANDLERS`, `template_config()` and
`static_files()` (the directories come from paths.py).
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from litestar import Request, Response, Router, get
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.exceptions import NotFoundException
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from iep_appliance.admin import (
    audit,
    auth,
    connect,
    engagement,
    messages,
    nodes,
    outbox,
    overview,
    queue,
    stored_templates,
    templates,
    tenant_domains,
    tenant_gdpr,
    tenant_keys,
    tenant_page,
    tenant_providers,
    tenant_reputation,
    tenant_suppressions,
    tenant_webhooks,
    tenant_workflows,
    tenants,
    users,
)
from iep_appliance.admin.templates import page
from iep_appliance.domain.errors import NotFound, ValidationFailed

# handler, least role ("public": no session; "viewer": read; "admin": act)
ROUTES: tuple[tuple[HTTPRouteHandler, str], ...] = (
    (auth.login_form, auth.PUBLIC),  # GET  /admin/login
    (auth.login, auth.PUBLIC),  # POST /admin/login (double-submit CSRF, rate-limited)
    (auth.logout, "viewer"),  # POST /admin/logout
    (overview.show, "viewer"),  # GET  /admin/
    (messages.list_messages, "viewer"),  # GET  /admin/messages
    (messages.show_message, "viewer"),  # GET  /admin/messages/{id}
    (messages.retry_message, "admin"),  # POST /admin/messages/{id}/retry
    (messages.preview, "viewer"),  # GET  /admin/messages/{id}/preview (sandboxed HTML)
    (messages.attachment, "viewer"),  # GET  /admin/messages/{id}/attachments/{att}
    (messages.retry_selected, "admin"),  # POST /admin/messages/retry (bulk)
    (messages.cancel_message, "admin"),  # POST /admin/messages/{id}/cancel
    (outbox.list_outbox, "viewer"),  # GET  /admin/outbox
    (outbox.preview, "viewer"),  # GET  /admin/outbox/{id}
    (outbox.raw, "viewer"),  # GET  /admin/outbox/{id}/raw
    (outbox.eml, "viewer"),  # GET  /admin/outbox/{id}/eml
    (tenants.list_tenants, "viewer"),  # GET  /admin/tenants
    (tenants.create, "admin"),  # POST /admin/tenants
    # one tenant's page (part B): tenant_page, tenant_keys, tenant_webhooks, ...
    (tenant_page.show, "viewer"),  # GET  /admin/tenants/{id}
    (tenant_page.save_settings, "admin"),  # POST /admin/tenants/{id}/settings
    (tenant_page.deactivate, "admin"),  # POST /admin/tenants/{id}/deactivate
    (tenant_page.activate, "admin"),  # POST /admin/tenants/{id}/activate
    (tenant_page.add_domain, "admin"),  # POST /admin/tenants/{id}/domains
    (tenant_page.remove_domain, "admin"),  # POST /admin/tenants/{id}/domains/remove
    (tenant_domains.show, "viewer"),  # GET  /admin/tenants/{id}/domains/{domain}
    (tenant_reputation.resume, "admin"),  # POST /admin/tenants/{id}/reputation/resume
    (tenant_domains.verify, "admin"),  # POST /admin/tenants/{id}/domains/{domain}/verify
    (tenant_keys.create_key, "admin"),  # POST /admin/tenants/{id}/keys
    (tenant_keys.rotate_key, "admin"),  # POST /admin/tenants/{id}/keys/{key}/rotate
    (tenant_keys.revoke_key, "admin"),  # POST /admin/tenants/{id}/keys/{key}/revoke
    (tenant_keys.set_allowlist, "admin"),  # POST .../keys/{key}/allowlist
    (tenant_webhooks.create_webhook, "admin"),  # POST /admin/tenants/{id}/webhooks
    (tenant_webhooks.disable_webhook, "admin"),  # POST .../webhooks/{wh}/disable
    (tenant_webhooks.enable_webhook, "admin"),  # POST .../webhooks/{wh}/enable
    (tenant_webhooks.delete_webhook, "admin"),  # POST .../webhooks/{wh}/delete
    (tenant_webhooks.delivery_log, "viewer"),  # GET  .../webhooks/{wh}
    (tenant_webhooks.resend, "admin"),  # POST .../webhooks/{wh}/deliveries/{d}/resend
    (tenant_providers.show, "viewer"),  # GET  /admin/tenants/{id}/providers
    (tenant_providers.create, "admin"),  # POST /admin/tenants/{id}/providers
    (tenant_providers.test, "admin"),  # POST .../providers/{p}/test
    (tenant_providers.delete, "admin"),  # POST .../providers/{p}/delete
    (tenant_suppressions.search, "viewer"),  # GET  /admin/tenants/{id}/suppressions
    (tenant_suppressions.export_csv, "viewer"),  # GET  /admin/tenants/{id}/suppressions.csv
    (tenant_suppressions.add, "admin"),  # POST /admin/tenants/{id}/suppressions
    (tenant_suppressions.remove, "admin"),  # POST .../suppressions/remove
    (tenant_suppressions.import_csv, "admin"),  # POST .../suppressions/import
    (tenant_workflows.queue_action, "admin"),  # POST .../queues/{q}/pause|resume|drain
    (tenant_workflows.pause_job, "admin"),  # POST .../jobs/{job}/pause
    (tenant_workflows.resume_job, "admin"),  # POST .../jobs/{job}/resume
    (tenant_workflows.delete_job, "admin"),  # POST .../jobs/{job}/delete
    (users.list_users, "viewer"),  # GET  /admin/users
    (users.create_user, "admin"),  # POST /admin/users
    (users.change_role, "admin"),  # POST /admin/users/{id}/role
    (users.delete_user, "admin"),  # POST /admin/users/{id}/delete
    (queue.show, "viewer"),  # GET  /admin/queue
    (queue.retry_jobs, "admin"),  # POST /admin/queue/retry (DLQ, bulk)
    (queue.discard_jobs, "admin"),  # POST /admin/queue/discard (DLQ, bulk)
    (connect.show, "viewer"),  # GET  /admin/connect (SMTP & compatible APIs settings)
    # stored templates and engagement
    (stored_templates.list_templates, "viewer"),  # GET  /admin/templates
    (stored_templates.new_template, "viewer"),  # GET  /admin/tenants/{id}/templates/new
    (stored_templates.create_template, "admin"),  # POST /admin/tenants/{id}/templates
    (stored_templates.preview, "viewer"),  # POST .../templates/preview (draft → iframe)
    (stored_templates.show_template, "viewer"),  # GET  .../templates/{t} (editor, history)
    (stored_templates.save_template, "admin"),  # POST .../templates/{t} (a new version)
    (stored_templates.delete_template, "admin"),  # POST .../templates/{t}/delete
    (stored_templates.send_test, "admin"),  # POST .../templates/{t}/test
    (stored_templates.new_from_list, "viewer"),  # GET  /admin/templates/new?tenant=
    (engagement.show, "viewer"),  # GET  /admin/engagement
    (audit.show, "admin"),  # GET  /admin/audit (every tenant's audit log)
    (tenant_gdpr.show, "viewer"),  # GET  /admin/tenants/{id}/gdpr
    (tenant_gdpr.export, "admin"),  # GET  /admin/tenants/{id}/gdpr/export?email=
    (tenant_gdpr.erase, "admin"),  # POST /admin/tenants/{id}/gdpr/erase
    (nodes.show, "admin"),  # GET  /admin/nodes (the processes serving, their heartbeats)
)
for _handler, _role in ROUTES:
    _handler.opt["role"] = _role

# The dashboard's pages: no caching, no framing, scripts only from /admin/static; the
# sandboxed preview iframe inherits this policy, so a previewed message loads no remote image.
SECURITY_HEADERS = [
    ResponseHeader(name="Cache-Control", value="no-store"),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
    ResponseHeader(
        name="Content-Security-Policy",
        value="default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
        " img-src 'self' data:; frame-src 'self'; frame-ancestors 'none'; form-action 'self';"
        " base-uri 'none'",
    ),
]


def _secured(
    handler: Callable[[Request[Any, Any, Any], Exception], Response[Any]],
) -> Callable[[Request[Any, Any, Any], Exception], Response[Any]]:
    """An exception handler whose response carries SECURITY_HEADERS too (Litestar applies a
    router's `response_headers` to handler responses only, not to exception handlers')."""

    def secured(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        response = handler(request, exc)
        for header in SECURITY_HEADERS:
            response.headers.setdefault(header.name, header.value or "")
        return response

    return secured


def _error_page(request: Request[Any, Any, Any], status: int, title: str, detail: str) -> Any:
    return page(request, "error", status=status, title=title, detail=detail)


def _forbidden(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return _error_page(request, 403, "Not allowed", str(exc))


def _not_found(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    detail = str(exc) if isinstance(exc, NotFound) else "There is no such dashboard page."
    return _error_page(request, 404, "Not found", detail)


def _invalid(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, ValidationFailed)
    detail = "; ".join(f"{e.path}: {e.message}" for e in exc.errors)
    return _error_page(request, 400, "Invalid request", detail)


HANDLERS: list[Any] = [
    Router(
        path="/admin",
        route_handlers=[handler for handler, _role in ROUTES],
        guards=[auth.guard],
        exception_handlers={
            auth.LoginRequired: _secured(auth.login_redirect),
            auth.Forbidden: _secured(_forbidden),
            NotFound: _secured(_not_found),
            NotFoundException: _secured(_not_found),
            ValidationFailed: _secured(_invalid),
        },
        response_headers=SECURITY_HEADERS,
        include_in_schema=False,
    )
]


def template_config(directory: Path) -> TemplateConfig[Any]:
    return templates.template_config(directory)


def favicon(directory: Path) -> Any:
    """GET /favicon.ico: the dashboard's icon (browsers ask for it on every site)."""
    icon = (directory / "favicon.svg").read_bytes()

    @get("/favicon.ico", include_in_schema=False, cache_control=CacheControlHeader(max_age=86400))
    async def serve_favicon() -> Response[bytes]:
        return Response(icon, media_type="image/svg+xml")

    return serve_favicon


def static_files(directory: Path) -> Any:
    """/admin/static: htmx, the stylesheet, and the API docs UI (versions in the file names)."""
    return create_static_files_router(
        path="/admin/static",
        directories=[directory],
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=3600),
    )
