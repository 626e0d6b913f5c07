"""/admin/outbox: what the built-in `outbox` provider kept, browsable like a mail catcher: the
list, a preview of one message (decoded headers, the HTML part sanitized by nh3 in a sandboxed
iframe served by messages.preview, the text part), its raw source and its .eml download."""

from typing import Any

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Response, Template

from iep_appliance.admin.auth import actions, dashboard
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


@get("/outbox/{message_id:str}/raw")
async def raw(request: Request[Any, Any, Any], message_id: FromPath[str]) -> Response[Any]:
    """The stored MIME as plain text (shown, never interpreted: nosniff from routes.py)."""
    mime = await actions(request).eml(message_id)
    return _stored_mime(mime, "text/plain; charset=utf-8", {})


@get("/outbox/{message_id:str}/eml")
async def eml(request: Request[Any, Any, Any], message_id: FromPath[str]) -> Response[Any]:
    """The stored MIME as a .eml download any mail program opens."""
    mime = await actions(request).eml(message_id)
    disposition = {"Content-Disposition": f'attachment; filename="{message_id}.eml"'}
    return _stored_mime(mime, "message/rfc822", disposition)


def _stored_mime(mime: bytes, media_type: str, headers: dict[str, str]) -> Response[Any]:
    """The stored MIME as `media_type`, with a policy that lets nothing in it run."""
    return Response(
        content=mime,
        media_type=media_type,
        headers={**headers, "Content-Security-Policy": "default-src 'none'; sandbox"},
    )
