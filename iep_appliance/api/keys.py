"""/v1/api-keys (admin): self-service keys. The key is shown once, at creation or rotation;
lists never carry a hash or secret. Revocation drops the auth cache at once."""

from typing import Annotated

import msgspec
from litestar import Request
from litestar.params import FromPath, JSONBody

from iep_appliance.api.fields import CreatedAt, ItsId
from iep_appliance.api.inject import Injected
from iep_appliance.api.pages import NextCursor, PageItems
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.domain.models import ApiKey
from iep_appliance.services.keys import KeyService

routes = Routes(tag="api-keys", scope="admin")


class KeyView(msgspec.Struct, frozen=True, rename="camel"):
    id: ItsId
    name: Annotated[str, msgspec.Meta(description="The key's name (a label for people).")]
    prefix: Annotated[
        str, msgspec.Meta(description="The key's public prefix, shown in lists and logs.")
    ]
    scopes: Annotated[
        list[str], msgspec.Meta(description="What the key may do: `send`, `read`, `admin`.")
    ]
    sandbox: Annotated[
        bool,
        msgspec.Meta(
            description="A sandbox key: its messages go to the outbox, never to recipients."
        ),
    ]
    expires_at: Annotated[
        str | None, msgspec.Meta(description="When the key stops working (ISO 8601); null = never.")
    ]
    last_used_at: Annotated[
        str | None, msgspec.Meta(description="When the key was last used (ISO 8601); null = never.")
    ]
    created_at: CreatedAt
    ip_allowlist: Annotated[
        list[str],
        msgspec.Meta(description="CIDRs the key works from (v4 and v6); empty = anywhere."),
    ] = []


class CreatedKeyView(KeyView, frozen=True, rename="camel", kw_only=True):
    key: Annotated[str, msgspec.Meta(description="The secret key; shown only in this response.")]


class KeyList(msgspec.Struct, frozen=True, rename="camel"):
    data: PageItems[KeyView]
    next_cursor: NextCursor = None


class KeyIn(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(description="A label for the key.")] = ""
    # absent: ["send"] for a live key, ["send", "read"] for a sandbox key (DESIGN §10.1)
    scopes: Annotated[
        list[str] | None,
        msgspec.Meta(
            description="What the key may do: `send`, `read`, `admin`; never more than the caller."
            " Absent: `send` (`send`, `read` for a sandbox key)."
        ),
    ] = None
    expires_at: Annotated[
        str | None, msgspec.Meta(description="When the key stops working (ISO 8601); null = never.")
    ] = None
    # absent: like the calling key; a sandbox key asking for a live one gets 403 naming it
    sandbox: Annotated[
        bool | None,
        msgspec.Meta(
            description="Make a sandbox key (`iep_test_…`): messages go to the outbox. Absent: like"
            " the calling key; a sandbox key cannot make a live one."
        ),
    ] = None
    ip_allowlist: Annotated[
        list[str] | None,
        msgspec.Meta(
            description='CIDRs the key works from, e.g. ["192.168.1.0/24", "2001:db8::/32"];'
            " a request from elsewhere → 403 naming the client address. Absent or []: anywhere."
        ),
    ] = None


class KeyPatch(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    ip_allowlist: Annotated[
        list[str],
        msgspec.Meta(description="The new CIDR list ([] = anywhere); effective at once."),
    ]


class RotateIn(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    grace_seconds: Annotated[
        int, msgspec.Meta(description="How long the old key keeps working, in seconds.")
    ] = 0


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
        ip_allowlist=list(k.ip_allowlist),
    )


def created_view(k: ApiKey, key: str) -> CreatedKeyView:
    return CreatedKeyView(**msgspec.structs.asdict(view(k)), key=key)


@routes.post(
    "/v1/api-keys",
    status_code=201,
    summary="Create an API key (the key is shown once)",
    description="Privileges never grow: a key grants only scopes it has, and a sandbox key"
    " creates only sandbox keys (403 naming `scopes` / `sandbox`).",
)
async def create_key(
    keys: Injected[KeyService], principal: Caller, data: JSONBody[KeyIn]
) -> CreatedKeyView:
    created = await keys.issue(
        principal.tenant_id,
        data.name,
        data.scopes,
        data.expires_at,
        data.sandbox,
        principal,
        data.ip_allowlist,
    )
    return created_view(created.record, created.key)


@routes.get("/v1/api-keys", summary="List the tenant's API keys (never the secret)")
async def list_keys(request: Request, keys: Injected[KeyService], principal: Caller) -> KeyList:
    keys = await keys.list_keys(principal.tenant_id)
    return KeyList(data=[view(k) for k in keys])


@routes.patch(
    "/v1/api-keys/{key_id:str}",
    summary="Change an API key's IP allowlist",
    description="A CIDR that does not parse → 422 naming `ipAllowlist[i]`.",
)
async def update_key(
    keys: Injected[KeyService], principal: Caller, key_id: FromPath[str], data: JSONBody[KeyPatch]
) -> KeyView:
    updated = await keys.set_ip_allowlist(principal.tenant_id, key_id, data.ip_allowlist)
    return view(updated)


@routes.delete("/v1/api-keys/{key_id:str}", status_code=204, summary="Revoke an API key (at once)")
async def revoke_key(keys: Injected[KeyService], principal: Caller, key_id: FromPath[str]) -> None:
    await keys.revoke(principal.tenant_id, key_id, principal)


@routes.post(
    "/v1/api-keys/{key_id:str}/rotate",
    status_code=201,
    summary="Rotate an API key: a new key; the old one works for `graceSeconds` more",
)
async def rotate_key(
    keys: Injected[KeyService],
    principal: Caller,
    key_id: FromPath[str],
    data: JSONBody[RotateIn | None] = None,
) -> CreatedKeyView:
    grace = data.grace_seconds if data is not None else 0
    created = await keys.rotate(principal.tenant_id, key_id, grace, principal)
    return created_view(created.record, created.key)


HANDLERS = [create_key, list_keys, update_key, revoke_key, rotate_key]
