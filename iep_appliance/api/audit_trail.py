"""The audit trail: one ASGI middleware records every successful mutation through
the API or the dashboard in the audit log, so no handler has to.

It runs inside Litestar's routing (the route handler and path template are known), looks the
request up in `audit_actions.RULES`, and after the response has gone out appends one entry:
the actor (the API key that `api/auth.py` verified, else the signed-in operator), the action,
the target (a path parameter, or the `id` of the JSON response), the client address, and as
details the status and the names (never the values) of the JSON body's fields. A handler can
add to or override this with a note in the scope state (`domain.audit.note()`: a login's outcome, a
created thing's id); a noted request is recorded whatever its status. Reads cost nothing:
a GET returns at the first line.
"""

import logging
from collections.abc import Callable
from typing import Any

import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from iep_appliance.api.audit_actions import RULES
from iep_appliance.api.auth import PRINCIPAL_STATE, scope_client
from iep_appliance.domain.audit import NOTE_STATE, AuditActor, AuditTarget
from iep_appliance.domain.models import Principal
from iep_appliance.services.audit import AuditService

log = logging.getLogger("iep.audit")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_CAPTURE = 64 * 1024


def _fields(body: bytes) -> list[str] | None:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    return sorted(data) if isinstance(data, dict) else None


def _json_value(body: bytes, name: str) -> str | None:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    value = data.get(name) if isinstance(data, dict) else None
    return str(value) if value is not None else None


def _actor(state: dict[str, Any]) -> tuple[AuditActor | None, str | None]:
    principal: Principal | None = state.get(PRINCIPAL_STATE)
    if principal is not None:
        return AuditActor("apiKey", principal.key_id, principal.key_id), principal.tenant_id
    session = state.get("admin_session")
    if session is not None:
        return AuditActor("operator", session.email, session.email), None
    return None, None


def middleware(audit: AuditService) -> Callable[[ASGIApp], ASGIApp]:
    """The audit trail as a Litestar middleware, recording into `audit`."""

    def wrap(app: ASGIApp) -> ASGIApp:
        return _trail(app, audit)

    return wrap


def _trail(app: ASGIApp, audit: AuditService) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATING:
            await app(scope, receive, send)
            return
        rule = RULES.get((scope["method"], scope.get("path_template", "")))
        if rule is None:
            await app(scope, receive, send)
            return
        status = [500]
        sent = bytearray()
        got = bytearray()
        want_body = rule[2].startswith("@")

        async def capture_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(got) < MAX_CAPTURE:
                got.extend(message.get("body", b"")[: MAX_CAPTURE - len(got)])
            return message

        async def capture_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body" and want_body and len(sent) < MAX_CAPTURE:
                sent.extend(message.get("body", b"")[: MAX_CAPTURE - len(sent)])
            await send(message)

        await app(scope, capture_receive, capture_send)
        try:
            await _record(audit, scope, rule, status[0], bytes(got), bytes(sent))
        except Exception:
            log.exception("audit.trail_failed")

    return middleware


async def _record(
    audit: AuditService,
    scope: Scope,
    rule: tuple[str, str, str],
    status: int,
    got: bytes,
    sent: bytes,
) -> None:
    state: dict[str, Any] = scope.get("state", {})  # type: ignore[assignment]
    noted: dict[str, Any] = state.get(NOTE_STATE) or {}
    if (status >= 400 and not noted) or noted.get("refused"):
        return  # refused: nothing changed (a dashboard form answers 200 so htmx shows why)
    action, target_type, where = rule
    params = scope.get("path_params", {})
    actor, tenant_id = _actor(state)
    actor = noted.get("actor", actor)
    if actor is None:
        return  # no credentials: nothing was changed by anyone
    if tenant_id is None:
        tenant_id = noted.get("tenant_id", params.get("tenant_id"))
    action = noted.get("action", action.replace("{action}", str(params.get("action", ""))))
    if where.startswith("@"):
        target_id = _json_value(sent, where[1:]) if status < 400 else None
    else:
        target_id = str(params[where]) if where and where in params else None
    target_id = noted.get("target_id", target_id)
    details: dict[str, Any] = {"status": status}
    fields = _fields(got) if got[:1] == b"{" else None
    if fields:
        details["fields"] = fields
    details.update(noted.get("details", {}))
    headers = dict(scope.get("headers", []))
    forwarded = headers.get(b"x-forwarded-for")
    ip = scope_client(scope, forwarded.decode("latin-1") if forwarded else None)
    await audit.record(tenant_id, actor, action, AuditTarget(target_type, target_id), ip, details)
