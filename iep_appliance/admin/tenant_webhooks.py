"""The webhooks card of a tenant's page and each endpoint's delivery log: create (the signing
secret is shown once), enable/disable, delete, and re-send a logged delivery. WebhookService
does each as /v1/webhooks does (the same SSRF check of the URL, the same re-send rules)."""

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Response, Template

from iep_appliance.admin.context import services
from iep_appliance.admin.templates import is_htmx, page
from iep_appliance.admin.tenant_page import (
    NOTICES,
    Feedback,
    act,
    operators,
    problem,
    refused,
    respond,
    tenant_form,
    text,
)
from iep_appliance.domain.errors import Conflict, NotFound, ValidationFailed
from iep_appliance.domain.webhooks import WebhookCreate, WebhookUpdate


@post("/tenants/{tenant_id:str}/webhooks", status_code=200)
async def create_webhook(
    request: Request[Any, Any, Any], tenant_id: FromPath[str]
) -> Response[Any]:
    form = await tenant_form(request, tenant_id)
    url = text(form, "url")
    events = [e for e in form.getall("events", []) if isinstance(e, str)]
    try:
        created = await services(request).webhooks.create(
            tenant_id, WebhookCreate(url=url, events=events)
        )
    except ValidationFailed as exc:
        return await refused(request, tenant_id, "webhooks", exc, {"url": url})
    shown = {"secret": created.secret, "url": created.url}
    notice = "Webhook created. Copy its signing secret now: it is not shown again."
    return await respond(
        request, tenant_id, "webhooks", feedback=Feedback(notice=notice, shown=shown), status=201
    )


async def _set_active(
    request: Request[Any, Any, Any], tenant_id: str, endpoint_id: str, active: bool
) -> Response[Any]:
    update = services(request).webhooks.update
    change = WebhookUpdate(active=active)
    notice = "webhook-enabled" if active else "webhook-disabled"
    return await act(
        request, tenant_id, "webhooks", lambda: update(tenant_id, endpoint_id, change), notice,
        (NotFound, ValidationFailed),
    )  # fmt: skip


@post("/tenants/{tenant_id:str}/webhooks/{endpoint_id:str}/disable", status_code=200)
async def disable_webhook(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], endpoint_id: FromPath[str]
) -> Response[Any]:
    return await _set_active(request, tenant_id, endpoint_id, False)


@post("/tenants/{tenant_id:str}/webhooks/{endpoint_id:str}/enable", status_code=200)
async def enable_webhook(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], endpoint_id: FromPath[str]
) -> Response[Any]:
    return await _set_active(request, tenant_id, endpoint_id, True)


@post("/tenants/{tenant_id:str}/webhooks/{endpoint_id:str}/delete", status_code=200)
async def delete_webhook(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], endpoint_id: FromPath[str]
) -> Response[Any]:
    delete = services(request).webhooks.delete
    return await act(
        request, tenant_id, "webhooks", lambda: delete(tenant_id, endpoint_id), "webhook-deleted"
    )


async def _log(
    request: Request[Any, Any, Any],
    tenant_id: str,
    endpoint_id: str,
    feedback: Feedback | None = None,
    status: int = 200,
) -> Template:
    tenant = await operators(request).tenant(tenant_id)
    service = services(request).webhooks
    endpoint = await service.get(tenant_id, endpoint_id)
    cursor = request.query_params.get("cursor") or None
    items, nxt = await service.deliveries(tenant_id, endpoint_id, 50, cursor)
    fb = feedback or Feedback(notice=NOTICES.get(request.query_params.get("notice", ""), ""))
    base = f"/admin/tenants/{tenant_id}/webhooks/{endpoint_id}"
    return page(
        request,
        "tenant_webhook",
        partial="_tenant_deliveries",
        active="Tenants",
        tenant=tenant,
        endpoint=endpoint,
        deliveries=items,
        more=f"{base}?cursor={nxt}" if nxt else None,
        fb=fb,
        status=200 if is_htmx(request) else status,
    )


@get("/tenants/{tenant_id:str}/webhooks/{endpoint_id:str}")
async def delivery_log(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], endpoint_id: FromPath[str]
) -> Template:
    return await _log(request, tenant_id, endpoint_id)


@post(
    "/tenants/{tenant_id:str}/webhooks/{endpoint_id:str}/deliveries/{delivery_id:str}/resend",
    status_code=200,
)
async def resend(
    request: Request[Any, Any, Any],
    tenant_id: FromPath[str],
    endpoint_id: FromPath[str],
    delivery_id: FromPath[str],
) -> Response[Any]:
    await operators(request).tenant(tenant_id)
    try:
        await services(request).webhooks.resend(tenant_id, endpoint_id, delivery_id)
    except (Conflict, NotFound) as exc:
        status = 409 if isinstance(exc, Conflict) else 404
        return await _log(request, tenant_id, endpoint_id, problem(exc), status)
    return await _log(request, tenant_id, endpoint_id, Feedback(notice=NOTICES["resent"]))
