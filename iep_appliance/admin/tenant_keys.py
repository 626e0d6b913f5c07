"""The API keys card of a tenant's page: create (the key is shown once, in the answer to the
create, never again), rotate with a grace period, revoke. KeyService does each exactly as
/v1/api-keys does; revoking drops the key from its auth cache, so the API refuses it at once."""

from typing import Any

from litestar import Request, post
from litestar.params import FromPath
from litestar.response import Response

from iep_appliance.admin.context import services
from iep_appliance.admin.tenant_page import Feedback, act, refused, respond, tenant_form, text
from iep_appliance.domain.audit import note
from iep_appliance.domain.errors import FieldError, NotFound, ValidationFailed
from iep_appliance.domain.validation import whole_number
from iep_appliance.services.keys import ROTATE_GRACE_SECONDS, CreatedKey


def _shown(created: CreatedKey) -> dict[str, str]:
    """What the card shows once of a new key: the key itself, its name and prefix."""
    return {"key": created.key, "name": created.record.name, "prefix": created.record.prefix}


@post("/tenants/{tenant_id:str}/keys", status_code=200)
async def create_key(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[Any]:
    form = await tenant_form(request, tenant_id)
    name = text(form, "name")
    scopes = [s for s in form.getall("scopes", []) if isinstance(s, str)]
    expires_at = text(form, "expiresAt") or None
    cidrs = text(form, "ipAllowlist")
    try:
        created = await services(request).keys.issue(
            tenant_id,
            name,
            scopes,
            expires_at,
            text(form, "sandbox") == "on",
            ip_allowlist=split_cidrs(cidrs),
        )
    except ValidationFailed as exc:
        submitted = {
            "name": name,
            "expiresAt": expires_at or "",
            "scopes": " ".join(scopes),
            "ipAllowlist": cidrs,
        }
        return await refused(request, tenant_id, "keys", exc, submitted)
    note(request.scope, target_id=created.record.id)  # type: ignore[arg-type]
    notice = "Key created. Copy it now: it is not shown again."
    feedback = Feedback(notice=notice, shown=_shown(created))
    return await respond(request, tenant_id, "keys", feedback=feedback, status=201)


@post("/tenants/{tenant_id:str}/keys/{key_id:str}/rotate", status_code=200)
async def rotate_key(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], key_id: FromPath[str]
) -> Response[Any]:
    form = await tenant_form(request, tenant_id)
    raw = text(form, "graceSeconds") or str(ROTATE_GRACE_SECONDS)
    try:
        grace = whole_number(raw, max_digits=9)
        if grace is None:
            raise ValidationFailed([FieldError("graceSeconds", "must be a whole number")])
        created = await services(request).keys.rotate(tenant_id, key_id, grace)
    except (ValidationFailed, NotFound) as exc:
        return await refused(request, tenant_id, "keys", exc, {"graceSeconds": raw})
    shown = _shown(created)
    grace = f" The old key keeps working for {raw} s." if raw != "0" else ""
    notice = f"Key rotated. Copy the new key now: it is not shown again.{grace}"
    return await respond(
        request, tenant_id, "keys", feedback=Feedback(notice=notice, shown=shown), status=201
    )


def split_cidrs(value: str) -> list[str]:
    """The form's allowlist: CIDRs separated by commas, spaces or new lines."""
    return [c for c in value.replace(",", " ").split() if c]


@post("/tenants/{tenant_id:str}/keys/{key_id:str}/allowlist", status_code=200)
async def set_allowlist(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], key_id: FromPath[str]
) -> Response[Any]:
    """Replace a key's IP allowlist; empty: the key works from anywhere."""
    form = await tenant_form(request, tenant_id)
    cidrs = text(form, "ipAllowlist")
    try:
        await services(request).keys.set_ip_allowlist(tenant_id, key_id, split_cidrs(cidrs))
    except (ValidationFailed, NotFound) as exc:
        return await refused(request, tenant_id, "keys", exc, {"ipAllowlist": cidrs})
    notice = "IP allowlist saved." if cidrs.strip() else "IP allowlist cleared: any address."
    return await respond(request, tenant_id, "keys", feedback=Feedback(notice=notice))


@post("/tenants/{tenant_id:str}/keys/{key_id:str}/revoke", status_code=200)
async def revoke_key(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], key_id: FromPath[str]
) -> Response[Any]:
    revoke = services(request).keys.revoke
    return await act(request, tenant_id, "keys", lambda: revoke(tenant_id, key_id), "key-revoked")
