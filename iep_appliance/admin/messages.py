"""/admin/messages: every tenant's messages with filters, keyset paging and a live refresh
(`_message_rows` is the list's body; the first page polls it), one message with its
envelope, headers, events, attempts, attachments and sandboxed HTML preview; Retry (one or
the selected ones) and Cancel for a scheduled message."""

from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from iep_appliance.admin.auth import actions, dashboard, safe_next
from iep_appliance.admin.context import services
from iep_appliance.admin.templates import page
from iep_appliance.domain.dashboard import PAGE_SIZE, attempts_of
from iep_appliance.domain.errors import Conflict, NotFound
from iep_appliance.domain.models import MESSAGE_STATUSES, MessageRecord
from iep_appliance.domain.preview import Preview
from iep_appliance.services.dashboard_actions import parse_ids

FILTERS = (
    "id",
    "tenant",
    "status",
    "recipient",
    "subject",
    "from",
    "to",
    "queue",
    "category",
    "tag",
)
CANCELLABLE = ("scheduled", "queued")

# The preview document: nothing runs (sandbox without allow-scripts), nothing loads but
# inline styles and data: images, and remote images only when the operator asked.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; font-src data:; img-src data:{remote};"
    " sandbox; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
PREVIEW_HEAD = (
    '<!doctype html><html><head><meta charset="utf-8"><base target="_blank">'
    "<style>body{font-family:system-ui,sans-serif;margin:12px;color:#1f2328}"
    "img{max-width:100%;height:auto}</style></head><body>"
)


def download_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name (RFC 6266 / 5987)."""
    fallback = (
        "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
        or "download"
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _filters(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {k: (request.query_params.get(k) or "").strip() for k in FILTERS}


@get("/messages")
async def list_messages(request: Request[Any, Any, Any]) -> Template:
    filters = _filters(request)
    kept = {k: v for k, v in filters.items() if v}
    service = dashboard(request)
    found = await service.messages({**kept, "cursor": request.query_params.get("cursor", "")})
    more = None
    if found.next_cursor:
        more = "/admin/messages?" + urlencode({**kept, "cursor": found.next_cursor})
    return page(
        request,
        "messages",
        partial="_message_rows",
        active="Messages",
        messages=found.items,
        more=more,
        searched_part=more is not None and len(found.items) < PAGE_SIZE,
        live=not request.query_params.get("cursor"),
        newest="/admin/messages" + (f"?{urlencode(kept)}" if kept else ""),
        filters=filters,
        statuses=MESSAGE_STATUSES,
        cancellable=CANCELLABLE,
        slugs=await service.tenant_slugs(),
        retried=request.query_params.get("retried", ""),
        refused=request.query_params.get("refused", ""),
    )


@get("/messages/{message_id:str}")
async def show_message(request: Request[Any, Any, Any], message_id: FromPath[str]) -> Template:
    return await _detail(request, message_id)


async def _outbox_copy(request: Request[Any, Any, Any], message_id: str) -> Preview | None:
    try:
        return (await dashboard(request).preview(message_id))[1]
    except NotFound:
        return None


def _envelope_headers(m: MessageRecord) -> list[tuple[str, str]]:
    """The headers a message will carry, for one not kept by the outbox."""
    sender = f"{m.from_name} <{m.from_email}>" if m.from_name else m.from_email
    found = [("From", sender), ("To", ", ".join(m.to))]
    if m.cc:
        found.append(("Cc", ", ".join(m.cc)))
    if m.reply_to:
        found.append(("Reply-To", m.reply_to))
    found += [("Subject", m.rendered_subject or m.subject), ("X-IEP-Message-Id", m.id)]
    return found


def _headers_source(m: MessageRecord, in_outbox: bool) -> str:
    """What the Headers list shows: the stored copy, or the main headers of a message that
    went (or failed to go) to a relay, which keeps no copy, or will be built."""
    if in_outbox:
        return "as sent (outbox copy)"
    if m.status in ("sent", "bounced"):
        return "as sent"
    if m.status in ("failed", "cancelled"):
        return "as built for the last attempt" if m.attempts else "as they would have been built"
    return "as they will be built"


async def _detail(
    request: Request[Any, Any, Any], message_id: str, error: str = "", status: int = 200
) -> Template:
    service = dashboard(request)
    record = await service.message(message_id)
    slugs = await service.tenant_slugs()
    copy = await _outbox_copy(request, message_id)
    images = request.query_params.get("images") == "1"
    preview = await actions(request).html_preview(message_id, images)
    return page(
        request,
        "message",
        active="Messages",
        m=record,
        tenant_slug=slugs.get(record.tenant_id, record.tenant_id),
        headers=copy.headers if copy else _envelope_headers(record),
        headers_source=_headers_source(record, copy is not None),
        text=copy.text if copy else record.rendered_text,
        attempts=attempts_of(record.events),
        images=images,
        blocked_images=preview.blocked_images,
        preview_src=f"/admin/messages/{message_id}/preview" + ("?images=1" if images else ""),
        in_outbox=copy is not None,
        inbound=await services(request).inbound.for_message(record.tenant_id, record.id),
        cancellable=record.status in CANCELLABLE,
        notice=request.query_params.get("notice", ""),
        error=error,
        status=status,
    )


@get("/messages/{message_id:str}/preview")
async def preview(request: Request[Any, Any, Any], message_id: FromPath[str]) -> Response[Any]:
    """The sanitized HTML as a document of its own, for the detail page's sandboxed iframe."""
    images = request.query_params.get("images") == "1"
    found = await actions(request).html_preview(message_id, images)
    return Response(
        content=(PREVIEW_HEAD + found.html + "</body></html>").encode(),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": PREVIEW_CSP.format(remote=" https: http:" if images else ""),
            "Referrer-Policy": "no-referrer",
        },
    )


@get("/messages/{message_id:str}/attachments/{attachment_id:str}")
async def attachment(
    request: Request[Any, Any, Any], message_id: FromPath[str], attachment_id: FromPath[str]
) -> Response[Any]:
    """Always a download (never shown inline), whatever its declared type."""
    filename, content_type, data = await actions(request).attachment(message_id, attachment_id)
    return Response(
        content=data,
        media_type=content_type or "application/octet-stream",
        headers={
            "Content-Disposition": download_disposition(filename),
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@post("/messages/{message_id:str}/retry", status_code=303)
async def retry_message(
    request: Request[Any, Any, Any], message_id: FromPath[str]
) -> Response[Any]:
    """Failed → queued again (MessageService.retry, as POST /v1/messages/{id}/retry)."""
    result = await actions(request).retry([message_id])
    if result.refused:
        await dashboard(request).message(message_id)  # NotFound: the 404 page
        return await _detail(request, message_id, result.refused[0][1], 409)
    form = await request.form()
    target = form.get("next")
    if isinstance(target, str) and target:
        return Redirect(path=safe_next(target), status_code=303)
    return Redirect(path=f"/admin/messages/{message_id}?notice=retried", status_code=303)


@post("/messages/retry", status_code=303)
async def retry_selected(request: Request[Any, Any, Any]) -> Response[Any]:
    """Retry every selected message (checkboxes named `id`); the failed ones go again."""
    form = await request.form()
    ids = parse_ids([v for v in form.getall("id", []) if isinstance(v, str)], "id")
    result = await actions(request).retry(ids)
    back = _list_to_return_to(request, form.get("next"))
    query = urlencode({**back, "retried": result.done, "refused": len(result.refused)})
    return Redirect(path=f"/admin/messages?{query}", status_code=303)


def _list_to_return_to(request: Request[Any, Any, Any], target: object) -> dict[str, str]:
    """The filters of the list the operator was looking at, to come back to it filtered:
    the page's own address (the Referer, which follows htmx's pushed filter URLs; same-origin
    by the Referrer-Policy), else the form's `next`, else none."""
    for candidate in (request.headers.get("referer", ""), target):
        if not isinstance(candidate, str) or not candidate:
            continue
        url = urlsplit(candidate)
        if url.netloc and url.netloc != request.headers.get("host", ""):
            continue
        if url.path == "/admin/messages":
            query = parse_qsl(url.query)
            return {k: v for k, v in query if k in FILTERS and v}
    return {}


@post("/messages/{message_id:str}/cancel", status_code=303)
async def cancel_message(
    request: Request[Any, Any, Any], message_id: FromPath[str]
) -> Response[Any]:
    """A scheduled (or queued, not yet started) message is cancelled."""
    try:
        await actions(request).cancel(message_id)
    except Conflict as exc:
        return await _detail(request, message_id, str(exc), 409)
    return Redirect(path=f"/admin/messages/{message_id}?notice=cancelled", status_code=303)
