"""/admin/messages: every tenant's messages with filters and cursor paging (`_message_rows`
is both the first page and each "Load more"), one message with its events, and Retry."""

from typing import Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from iep_appliance.admin.auth import dashboard, safe_next
from iep_appliance.admin.templates import page
from iep_appliance.domain.errors import Conflict
from iep_appliance.domain.models import MESSAGE_STATUSES

FILTERS = ("tenant", "status", "recipient")


@get("/messages")
async def list_messages(request: Request[Any, Any, Any]) -> Template:
    params = {k: v for k, v in request.query_params.items() if v}
    service = dashboard(request)
    found = await service.messages(params)
    filters = {k: params.get(k, "") for k in FILTERS}
    more = None
    if found.next_cursor:
        kept = {k: v for k, v in filters.items() if v}
        more = "/admin/messages?" + urlencode({**kept, "cursor": found.next_cursor})
    return page(
        request,
        "messages",
        partial="_message_rows",
        active="Messages",
        messages=found.items,
        more=more,
        filters=filters,
        statuses=MESSAGE_STATUSES,
        slugs=await service.tenant_slugs(),
    )


@get("/messages/{message_id:str}")
async def show_message(request: Request[Any, Any, Any], message_id: FromPath[str]) -> Template:
    return await _detail(request, message_id)


async def _detail(
    request: Request[Any, Any, Any], message_id: str, error: str = "", status: int = 200
) -> Template:
    service = dashboard(request)
    record = await service.message(message_id)
    slugs = await service.tenant_slugs()
    return page(
        request,
        "message",
        active="Messages",
        m=record,
        tenant_slug=slugs.get(record.tenant_id, record.tenant_id),
        notice=request.query_params.get("notice", ""),
        error=error,
        status=status,
    )


@post("/messages/{message_id:str}/retry", status_code=303)
async def retry_message(
    request: Request[Any, Any, Any], message_id: FromPath[str]
) -> Response[Any]:
    """Failed → queued again (MessageService.retry, as POST /v1/messages/{id}/retry)."""
    record = await dashboard(request).message(message_id)
    try:
        await request.app.state.runtime.messages.retry(record.tenant_id, message_id)
    except Conflict as exc:
        return await _detail(request, message_id, str(exc), 409)
    form = await request.form()
    target = form.get("next")
    if isinstance(target, str) and target:
        return Redirect(path=safe_next(target), status_code=303)
    return Redirect(path=f"/admin/messages/{message_id}?notice=retried", status_code=303)
