"""The API keys card of a tenant's page: create (the key is shown once, in the answer to the
create, never again), rotate with a grace period, revoke. KeyService does each exactly as
/v1/api-keys does; revoking drops the key from its auth cache, so the API refuses it at once."""

from typing import Any

from litestar import Request, post
from litestar.params import FromPath
from litestar.response import Response

from iep_appliance.admin.context import services
from iep_appliance.admin.tenant_page import Feedback, act, operators, refused, respond, text
from iep_appliance.domain.errors import FieldError, NotFound, ValidationFailed
from iep_appliance.domain.validation import whole_number
from iep_appliance.services.keys import ROTATE_GRACE_SECONDS


@post("/tenants/{tenant_id:str}/keys", status_code=200)
async def create_key(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    form = await request.form()
    await operators(request).tenant(tenant_id)
    name = text(form, "name")
    scopes = [s for s in form.getall("scopes", []) if isinstance(s, str)]
    expires_at = text(form, "expiresAt") or None
    try:
        created = await services(request).keys.issue(
            tenant_id, name, scopes, expires_at, text(form, "sandbox") == "on"
        )
    except ValidationFailed as exc:
        submitted = {"name": name, "expiresAt": expires_at or "", "scopes": " ".join(scopes)}
        return await refused(request, tenant_id, "keys", exc, submitted)
    shown = {"key": created.key, "name": created.record.name, "prefix": created.record.prefix}
    feedback = Feedback(notice="Key created. Copy it now: it is not shown again.", shown=shown)
    return await respond(request, tenant_id, "keys", feedback=feedback, status=201)


@post("/tenants/{tenant_id:str}/keys/{key_id:str}/rotate", status_code=200)
async def rotate_key(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], key_id: FromPath[str]
) -> Response[Any]:
    form = await request.form()
    await operators(request).tenant(tenant_id)
    raw = text(form, "graceSeconds") or str(ROTATE_GRACE_SECONDS)
    try:
        grace = whole_number(raw, max_digits=9)
        if grace is None:
            raise ValidationFailed([FieldError("graceSeconds", "must be a whole number")])
        created = await services(request).keys.rotate(tenant_id, key_id, grace)
    except (ValidationFailed, NotFound) as exc:
        return await refused(request, tenant_id, "keys", exc, {"graceSeconds": raw})
    shown = {"key": created.key, "name": created.record.name, "prefix": created.record.prefix}
    grace = f" The old key keeps working for {raw} s." if raw != "0" else ""
    notice = f"Key rotated. Copy the new key now: it is not shown again.{grace}"
    return await respond(
        request, tenant_id, "keys", feedback=Feedback(notice=notice, shown=shown), status=201
    )


@post("/tenants/{tenant_id:str}/keys/{key_id:str}/revoke", status_code=200)
async def revoke_key(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], key_id: FromPath[str]
) -> Response[Any]:
    revoke = services(request).keys.revoke
    return await act(request, tenant_id, "keys", lambda: revoke(tenant_id, key_id), "key-revoked")
