"""/v1/api-keys (admin): self-service keys. The key is shown once, at creation or rotation;
lists never carry a hash or secret. Revocation drops the auth cache at once."""

import msgspec
from litestar import Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from iep_appliance.api.auth import needs
from iep_appliance.domain.models import ApiKey, Principal
from iep_appliance.runtime import Runtime


class KeyView(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    sandbox: bool
    expires_at: str | None
    last_used_at: str | None
    created_at: str


class CreatedKeyView(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    sandbox: bool
    expires_at: str | None
    last_used_at: str | None
    created_at: str
    key: str


class KeyList(msgspec.Struct, frozen=True, rename="camel"):
    data: list[KeyView]
    next_cursor: str | None = None


class KeyIn(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    name: str = ""
    # absent: ["send"] for a live key, ["send", "read"] for a sandbox key (DESIGN §10.1)
    scopes: list[str] | None = None
    expires_at: str | None = None
    # absent: like the calling key; a sandbox key asking for a live one gets 403 naming it
    sandbox: bool | None = None


class RotateIn(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    grace_seconds: int = 0


def _rt(request: Request) -> Runtime:
    return request.app.state.runtime


def view(k: ApiKey) -> KeyView:
    return KeyView(
        id=k.id,
        name=k.name,
        prefix=k.prefix,
        scopes=list(k.scopes),
        sandbox=k.sandbox,
        expires_at=k.expires_at,
        last_used_at=k.last_used_at,
        created_at=k.created_at,
    )


def created_view(k: ApiKey, key: str) -> CreatedKeyView:
    return CreatedKeyView(**msgspec.structs.asdict(view(k)), key=key)


@post(
    "/v1/api-keys",
    dependencies={"principal": needs("admin")},
    status_code=201,
    summary="Create an API key (the key is shown once)",
    description="Privileges never grow: a key grants only scopes it has, and a sandbox key"
    " creates only sandbox keys (403 naming `scopes` / `sandbox`).",
    tags=["api-keys"],
)
async def create_key(
    request: Request, principal: NamedDependency[Principal], data: JSONBody[KeyIn]
) -> CreatedKeyView:
    created = await _rt(request).keys.issue(
        principal.tenant_id, data.name, data.scopes, data.expires_at, data.sandbox, principal
    )
    return created_view(created.record, created.key)


@get(
    "/v1/api-keys",
    dependencies={"principal": needs("admin")},
    summary="List the tenant's API keys (never the secret)",
    tags=["api-keys"],
)
async def list_keys(request: Request, principal: NamedDependency[Principal]) -> KeyList:
    keys = await _rt(request).keys.list_keys(principal.tenant_id)
    return KeyList(data=[view(k) for k in keys])


@delete(
    "/v1/api-keys/{key_id:str}",
    dependencies={"principal": needs("admin")},
    status_code=204,
    summary="Revoke an API key (at once)",
    tags=["api-keys"],
)
async def revoke_key(
    request: Request, principal: NamedDependency[Principal], key_id: FromPath[str]
) -> None:
    await _rt(request).keys.revoke(principal.tenant_id, key_id, principal)


@post(
    "/v1/api-keys/{key_id:str}/rotate",
    dependencies={"principal": needs("admin")},
    status_code=201,
    summary="Rotate an API key: a new key; the old one works for `graceSeconds` more",
    tags=["api-keys"],
)
async def rotate_key(
    request: Request,
    principal: NamedDependency[Principal],
    key_id: FromPath[str],
    data: JSONBody[RotateIn | None] = None,
) -> CreatedKeyView:
    grace = data.grace_seconds if data is not None else 0
    created = await _rt(request).keys.rotate(principal.tenant_id, key_id, grace, principal)
    return created_view(created.record, created.key)


HANDLERS = [create_key, list_keys, revoke_key, rotate_key]
