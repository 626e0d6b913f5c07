"""/admin/outbox: what the built-in `outbox` provider kept, and a preview of one message:
decoded headers, the HTML part sanitized (nh3) inside a sandboxed iframe, the text part."""

from typing import Any

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Template

from iep_appliance.admin.auth import dashboard
from iep_appliance.admin.templates import page


async def _page(
    request: Request[Any, Any, Any], message_id: str | None, partial: str | None
) -> Template:
    service = dashboard(request)
    items, cursor = await service.outbox(request.query_params.get("cursor"))
    preview = tenant_id = None
    if message_id is not None:
        tenant_id, preview = await service.preview(message_id)
    slugs = await service.tenant_slugs()
    return page(
        request,
        "outbox",
        partial=partial,
        active="Outbox",
        items=items,
        more=f"/admin/outbox?cursor={cursor}" if cursor else None,
        selected=message_id,
        preview=preview,
        tenant_slug=slugs.get(tenant_id or "", tenant_id),
        slugs=slugs,
    )


@get("/outbox")
async def list_outbox(request: Request[Any, Any, Any]) -> Template:
    return await _page(request, None, "_outbox_rows")


@get("/outbox/{message_id:str}")
async def preview(request: Request[Any, Any, Any], message_id: FromPath[str]) -> Template:
    return await _page(request, message_id, "_outbox_preview")
