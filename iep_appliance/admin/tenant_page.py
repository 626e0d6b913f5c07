"""/admin/tenants/{id}: one tenant's page, a card per section (settings, sender domains, API
keys, webhooks, suppressions, queues, recurring jobs), each also an HTMX partial
(`_tenant_<section>.html`) that its forms swap in place.

Every action calls the service the /v1 API uses for it. `respond()` answers an action: an
HTMX request gets its section again (always 200, so htmx swaps it; errors show in the
section), a plain form post is redirected back to the page on success, or gets the whole
page with the error (422/409) or with a secret shown once. This module has the page itself,
its settings, activation and sender domains; tenant_keys, tenant_webhooks,
tenant_suppressions and tenant_workflows have the rest.
"""

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath
from litestar.response import Redirect, Response

from iep_appliance.admin.chart import SMALL_H, SMALL_W, rate_trend
from iep_appliance.admin.context import services
from iep_appliance.admin.templates import is_htmx, page
from iep_appliance.domain.audit import note
from iep_appliance.domain.errors import Conflict, IEPError, NotFound, ValidationFailed
from iep_appliance.domain.models import Tenant
from iep_appliance.domain.webhooks import EVENTS
from iep_appliance.services.operators import OperatorService

SECTIONS = ("settings", "domains", "keys", "webhooks", "suppressions", "queues", "jobs")
# What a redirect's `?notice=` code says (codes, so a link cannot put words on the page).
NOTICES = {
    "created": "Tenant created. Create its first API key below.",
    "saved": "Settings saved.",
    "activated": "Tenant reactivated: its keys work again.",
    "deactivated": "Tenant deactivated: its API keys are refused and it accepts nothing.",
    "domain-added": "Domain added.",
    "domain-removed": "Domain removed.",
    "reputation-resumed": "Sending resumed: the held mail goes out now.",
    "key-revoked": "Key revoked: the API refuses it from now on.",
    "webhook-deleted": "Webhook deleted.",
    "webhook-enabled": "Webhook enabled.",
    "webhook-disabled": "Webhook disabled.",
    "resent": "Delivery queued again.",
    "suppressed": "Addresses suppressed.",
    "unsuppressed": "Address removed from the suppression list.",
    "queue-paused": "Queue paused.",
    "queue-active": "Queue resumed.",
    "queue-draining": "Queue draining: it accepts no new messages.",
    "job-paused": "Recurring job paused.",
    "job-resumed": "Recurring job resumed.",
    "job-deleted": "Recurring job deleted.",
}
RATE_FIELDS = ("maxPerMinute", "maxPerHour", "maxPerDay")
ATTACHMENT_FIELDS = ("maxFileBytes", "maxTotalBytes", "maxCount")
SUPPRESSION_PAGE = 50


class Feedback(msgspec.Struct):
    """What an action tells its section: a notice or an error, field errors keyed by the
    API's field path, the submitted form, and anything shown once (a key, a secret)."""

    notice: str = ""
    error: str = ""
    errors: dict[str, str] = msgspec.field(default_factory=dict)
    form: dict[str, str] = msgspec.field(default_factory=dict)
    shown: dict[str, Any] = msgspec.field(default_factory=dict)


def operators(request: Request[Any, Any, Any]) -> OperatorService:
    return services(request).operators


async def tenant_form(request: Request[Any, Any, Any], tenant_id: str) -> FormMultiDict:
    """The form POSTed to a card of a tenant's page, once the tenant is known to exist (else
    NotFound: the 404 page)."""
    form = await request.form()
    await operators(request).tenant(tenant_id)
    return form


def text(form: FormMultiDict, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def field_errors(exc: ValidationFailed) -> dict[str, str]:
    """Field path → message; `x[3]` is also reported under `x`, where the input is."""
    out: dict[str, str] = {}
    for e in exc.errors:
        out.setdefault(e.path, e.message)
        base = e.path.split("[", 1)[0]
        if base != e.path:
            out.setdefault(base, f"{e.path}: {e.message}")
    return out


def problem(exc: IEPError) -> Feedback:
    """The feedback for a refused action (ValidationFailed names fields)."""
    if isinstance(exc, ValidationFailed):
        detail = "; ".join(f"{e.path}: {e.message}" for e in exc.errors)
        return Feedback(error=detail or exc.detail, errors=field_errors(exc))
    return Feedback(error=exc.detail or type(exc).__name__)


# ---- loading the sections ----------------------------------------------------------------------


async def _settings(request: Request[Any, Any, Any], tenant: Tenant) -> dict[str, Any]:
    return {"providers": sorted(services(request).tenant_settings.providers)}


async def _domains(request: Request[Any, Any, Any], tenant: Tenant) -> dict[str, Any]:
    return {
        "domains": await services(request).domains.list_all(tenant.id),
        **await _reputation(request, tenant),
    }


async def _reputation(request: Request[Any, Any, Any], tenant: Tenant) -> dict[str, Any]:
    """The reputation panel: rates, state, a small per-day trend (DESIGN §10.3)."""
    service = services(request).reputation
    cfg = service.cfg
    days = await service.trend(tenant.id)
    return {
        "reputation": await service.of(tenant.id),
        "reputation_held": service.is_held(tenant.id),
        "reputation_trend": rate_trend(
            [(d.day, d.bounce_rate, d.complaint_rate) for d in days],
            cfg.pause_bounce_rate,
            cfg.pause_complaint_rate,
        ),
        "trend_size": (SMALL_W, SMALL_H),
    }


async def _keys(request: Request[Any, Any, Any], tenant: Tenant) -> dict[str, Any]:
    return {"keys": await services(request).keys.list_keys(tenant.id)}


async def _webhooks(request: Request[Any, Any, Any], tenant: Tenant) -> dict[str, Any]:
    items, _next = await services(request).webhooks.list_endpoints(tenant.id, 200)
    return {"webhooks": items, "events": EVENTS}


async def _suppressions(request: Request[Any, Any, Any], tenant: Tenant) -> dict[str, Any]:
    search = request.query_params.get("search", "").strip()
    cursor = request.query_params.get("cursor") or None
    items, nxt = await services(request).suppressions.list_page(
        tenant.id, search or None, SUPPRESSION_PAGE, cursor
    )
    more = None
    if nxt:
        more = f"/admin/tenants/{tenant.id}/suppressions?search={quote(search)}&cursor={nxt}"
    return {"suppressions": items, "search": search, "more": more, "first_page": not cursor}


async def _queues(request: Request[Any, Any, Any], tenant: Tenant) -> dict[str, Any]:
    service = services(request).queues
    items, _next = await service.list(tenant.id, 200)
    return {"queues": [await service.stats(tenant.id, q.id) for q in items]}


async def _jobs(request: Request[Any, Any, Any], tenant: Tenant) -> dict[str, Any]:
    items, _next = await services(request).scheduled_jobs.list_jobs(tenant.id, 200)
    return {"jobs": items}


Loader = Callable[[Request[Any, Any, Any], Tenant], Awaitable[dict[str, Any]]]
LOADERS: dict[str, Loader] = {
    "settings": _settings,
    "domains": _domains,
    "keys": _keys,
    "webhooks": _webhooks,
    "suppressions": _suppressions,
    "queues": _queues,
    "jobs": _jobs,
}


async def render(
    request: Request[Any, Any, Any],
    tenant_id: str,
    section: str | None = None,
    feedback: Feedback | None = None,
    status: int = 200,
) -> Response[Any]:
    """The tenant page, or only `section` for an HTMX request. `feedback` goes to `section`."""
    tenant = await operators(request).tenant(tenant_id)
    partial = is_htmx(request) and section is not None
    context: dict[str, Any] = {}
    for name, load in LOADERS.items():
        if not partial or name == section:
            context.update(await load(request, tenant))
    fb = feedback or Feedback()
    if not partial:
        fb.notice = fb.notice or NOTICES.get(request.query_params.get("notice", ""), "")
        asked = request.query_params.get("section", "")
        section = section or (asked if asked in SECTIONS else None)
    return page(
        request,
        "tenant",
        partial=f"_tenant_{section}" if partial else None,
        active="Tenants",
        tenant=tenant,
        section=section or "",
        fb=fb,
        status=200 if partial else status,
        **context,
    )


async def respond(
    request: Request[Any, Any, Any],
    tenant_id: str,
    section: str,
    notice: str = "",
    feedback: Feedback | None = None,
    status: int = 200,
) -> Response[Any]:
    """The answer to an action: see the module docstring."""
    if feedback is None and not is_htmx(request):
        target = f"/admin/tenants/{tenant_id}?section={section}"
        if notice:
            target += f"&notice={notice}"
        return Redirect(path=f"{target}#t-{section}", status_code=303)
    fb = feedback or Feedback(notice=NOTICES.get(notice, ""))
    return await render(request, tenant_id, section, fb, status)


async def refused(
    request: Request[Any, Any, Any],
    tenant_id: str,
    section: str,
    exc: IEPError,
    form: dict[str, str] | None = None,
) -> Response[Any]:
    """The section again with why the action was refused (422, or 409 for a conflict)."""
    note(request.scope, refused=True)  # type: ignore[arg-type]  # the audit trail skips it
    fb = problem(exc)
    fb.form = form or {}
    status = 409 if isinstance(exc, Conflict) else 404 if isinstance(exc, NotFound) else 422
    return await render(request, tenant_id, section, fb, status)


async def act(
    request: Request[Any, Any, Any],
    tenant_id: str,
    section: str,
    action: Callable[[], Awaitable[object]],
    notice: str,
    refuse: tuple[type[IEPError], ...] = (NotFound,),
    form: dict[str, str] | None = None,
) -> Response[Any]:
    """One action of a section: the tenant must exist (else the 404 page), `action` runs, and
    the section answers with `notice`, or with why it was refused (one of `refuse`)."""
    await operators(request).tenant(tenant_id)
    try:
        await action()
    except refuse as exc:
        return await refused(request, tenant_id, section, exc, form)
    return await respond(request, tenant_id, section, notice)


# ---- the page, settings, activation, domains ---------------------------------------------------


@get("/tenants/{tenant_id:str}")
async def show(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    return await render(request, tenant_id)


def settings_body(form: FormMultiDict) -> dict[str, Any]:
    """The settings form as a PATCH /v1/tenant body. Blank limits are null; what is not a
    number is passed on as typed, so the API's validation names the field."""

    def number(name: str) -> Any:
        raw = text(form, name)
        if not raw:
            return None
        try:
            return int(raw.replace("_", ""))
        except ValueError:
            return raw

    types = text(form, "attachments.allowedTypes").replace(",", " ").split()
    return {
        "name": text(form, "name"),
        "sandbox": text(form, "sandbox") in ("on", "true", "1"),
        "rateLimits": {k: number(f"rateLimits.{k}") for k in RATE_FIELDS},
        "attachments": {
            **{k: number(f"attachments.{k}") for k in ATTACHMENT_FIELDS},
            "allowedTypes": types,
        },
        "routing": {
            "primaryProvider": text(form, "routing.primaryProvider") or None,
            "fallbackProvider": text(form, "routing.fallbackProvider") or None,
        },
    }


@post("/tenants/{tenant_id:str}/settings", status_code=200)
async def save_settings(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    """Through TenantSettingsService.patch, as PATCH /v1/tenant: all or nothing."""
    form = await request.form()
    try:
        await services(request).tenant_settings.patch(tenant_id, settings_body(form))
    except ValidationFailed as exc:
        submitted = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
        return await refused(request, tenant_id, "settings", exc, submitted)
    return await respond(request, tenant_id, "settings", "saved")


@post("/tenants/{tenant_id:str}/deactivate", status_code=200)
async def deactivate(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    await operators(request).set_active(tenant_id, False)
    return await respond(request, tenant_id, "settings", "deactivated")


@post("/tenants/{tenant_id:str}/activate", status_code=200)
async def activate(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    await operators(request).set_active(tenant_id, True)
    return await respond(request, tenant_id, "settings", "activated")


@post("/tenants/{tenant_id:str}/domains", status_code=200)
async def add_domain(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    domain = text(await request.form(), "domain")
    add = services(request).domains.add
    refuse = (ValidationFailed, Conflict)
    return await act(
        request, tenant_id, "domains", lambda: add(tenant_id, domain), "domain-added", refuse,
        {"domain": domain},
    )  # fmt: skip


@post("/tenants/{tenant_id:str}/domains/remove", status_code=200)
async def remove_domain(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    domain = text(await request.form(), "domain")
    remove = services(request).domains.remove
    return await act(
        request, tenant_id, "domains", lambda: remove(tenant_id, domain), "domain-removed"
    )
