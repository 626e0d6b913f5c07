"""/v1/audit-logs (admin): the tenant's audit log, newest first, filtered, cursor-paginated
(DESIGN §10.5). Bad dates, `from` not before `to`, a bad cursor → 400 naming it."""

from typing import Annotated, Any

import msgspec
from litestar.params import FromQuery, QueryParameter

from iep_appliance.api.inject import Injected
from iep_appliance.api.pages import PageItems, Paging
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.domain.audit import AuditEntry, next_cursor, parse_query
from iep_appliance.services.audit import AuditService

routes = Routes(tag="audit", scope="admin")


class ActorView(msgspec.Struct, frozen=True):
    type: Annotated[str, msgspec.Meta(description="`apiKey`, `operator`, `cli` or `system`.")]
    id: Annotated[str, msgspec.Meta(description="The key id, operator email, OS user, …")]
    name: Annotated[str, msgspec.Meta(description="A readable name of the actor.")]


class TargetView(msgspec.Struct, frozen=True):
    type: Annotated[str, msgspec.Meta(description="What was changed: `apiKey`, `webhook`, …")]
    id: Annotated[
        str | None,
        msgspec.Meta(description="Its id; an email address is shown as `sha256:<hex>`."),
    ]


class AuditView(msgspec.Struct, frozen=True, rename="camel"):
    id: Annotated[str, msgspec.Meta(description="The entry's id.")]
    at: Annotated[str, msgspec.Meta(description="When (ISO 8601, UTC).")]
    actor: Annotated[ActorView, msgspec.Meta(description="Who made the change.")]
    action: Annotated[str, msgspec.Meta(description="What was done, e.g. `api_key.created`.")]
    target: Annotated[TargetView, msgspec.Meta(description="What was changed.")]
    ip: Annotated[str | None, msgspec.Meta(description="The client address, when known.")]
    details: Annotated[
        dict[str, Any],
        msgspec.Meta(description="The status and the names of the fields sent (no values)."),
    ]


class AuditList(msgspec.Struct, frozen=True, rename="camel"):
    data: PageItems[AuditView]
    next_cursor: Annotated[
        str | None,
        msgspec.Meta(description="Cursor for the next page (pass as `cursor`); null at the end."),
    ] = None


def view(e: AuditEntry) -> AuditView:
    return AuditView(
        id=e.id,
        at=e.at,
        actor=ActorView(e.actor.type, e.actor.id, e.actor.name),
        action=e.action,
        target=TargetView(e.target.type, e.target.id),
        ip=e.ip,
        details=e.details,
    )


@routes.get(
    "/v1/audit-logs",
    summary="The tenant's audit log (newest first; filters; cursor pagination)",
    description="Every change made through the API, the dashboard or the CLI. `actor`: an"
    " actor id, name or type; `action`: exact, or a prefix like `api_key.*`; `from`/`to`:"
    " ISO 8601 (from inclusive, to exclusive). A bad range → 400 naming the parameter.",
)
async def list_audit_logs(
    audit: Injected[AuditService],
    principal: Caller,
    actor: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    from_: Annotated[str | None, QueryParameter(name="from")] = None,
    to: FromQuery[str | None] = None,
    *,
    page: Paging,  # keyword-only: it follows parameters with defaults
) -> AuditList:
    params = {"actor": actor, "action": action, "from": from_, "to": to}
    q = parse_query(params, page.limit, page.cursor, principal.tenant_id)
    found = await audit.query(q)
    return AuditList(data=[view(e) for e in found], next_cursor=next_cursor(found, q.limit))


HANDLERS = [list_audit_logs]
