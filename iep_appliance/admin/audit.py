"""/admin/audit: the audit log of every tenant (and of the appliance itself), newest first,
filtered by tenant, actor, action and time. A bad filter re-renders the page with
the reason (400), never a 500."""

from typing import Any

from litestar import Request, get
from litestar.response import Response

from iep_appliance.admin.context import services
from iep_appliance.admin.templates import page
from iep_appliance.admin.tenant_page import operators
from iep_appliance.domain.audit import AuditEntry, next_cursor, parse_query
from iep_appliance.domain.errors import BadRequest

PAGE = 100


def _row(e: AuditEntry, names: dict[str, str]) -> dict[str, Any]:
    return {
        "at": e.at,
        "tenant": names.get(e.tenant_id or "", "—") if e.tenant_id else "appliance",
        "actor": f"{e.actor.type}: {e.actor.name or e.actor.id}",
        "action": e.action,
        "target": f"{e.target.type} {e.target.id or ''}".strip(),
        "ip": e.ip or "—",
        "details": ", ".join(f"{k}={v}" for k, v in e.details.items()),
    }


@get("/audit")
async def show(request: Request[Any, Any, Any]) -> Response[Any]:
    params = {k: request.query_params.get(k) or None for k in ("actor", "action", "from", "to")}
    tenant = request.query_params.get("tenant") or None
    cursor = request.query_params.get("cursor") or None
    tenants = await operators(request).tenants()
    names = {t.id: t.slug for t in tenants}
    error, status, rows, nxt = "", 200, [], None
    try:
        q = parse_query(params, PAGE, cursor, tenant)
        found = await services(request).audit.query(q)
        rows = [_row(e, names) for e in found]
        nxt = next_cursor(found, PAGE)
    except BadRequest as exc:
        error = "; ".join(f"{e.path}: {e.message}" for e in exc.errors)
        status = 400
    filters = {k: v or "" for k, v in params.items()} | {"tenant": tenant or ""}
    return page(
        request,
        "audit",
        status=status,
        active="Audit log",
        rows=rows,
        tenants=tenants,
        filters=filters,
        error=error,
        next_cursor=nxt,
    )
