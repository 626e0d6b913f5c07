"""API-key authentication and scope checks for /v1, as Litestar dependencies.

`x-api-key: <key>` or `Authorization: Bearer <key>`; wrong or absent → 401, missing
scope → 403, a key used from outside its IP allowlist → 403 naming the client address (the
socket peer, or `X-Forwarded-For` behind `[server] trusted_proxies`). The verified key is
cached by KeyService, so argon2 is not paid per request. The Principal is kept in the
request's scope state for the audit trail (api/audit_trail.py).
"""

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Litestar, Request
from litestar.di import Provide

from iep_appliance.api.inject import Injected
from iep_appliance.domain.ip_allowlist import client_address
from iep_appliance.domain.models import Principal
from iep_appliance.logs import tenant_id_var
from iep_appliance.services.keys import KeyService

PRINCIPAL_STATE = "iep_principal"  # scope["state"] key the audit trail reads
CLIENT_STATE = "iep_client"
TRUSTED_PROXIES = "iep_trusted_proxies"  # app.state: `[server] trusted_proxies` (install)


def install(app: Litestar, trusted_proxies: tuple[str, ...]) -> None:
    """Hand the app the proxies whose X-Forwarded-For names the client."""
    app.state[TRUSTED_PROXIES] = trusted_proxies


def presented_key(request: Request) -> str | None:
    return key_in(request.headers.get("x-api-key"), request.headers.get("authorization"))


def key_in(x_api_key: str | None, authorization: str | None) -> str | None:
    """The API key of `x-api-key`, else of `Authorization: Bearer …`."""
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def scope_client(scope: Any, forwarded_for: str | None) -> str:
    """The client address of an ASGI request (peer, or X-Forwarded-For behind a trusted
    proxy), computed once per request and kept in its scope state."""
    state = scope.setdefault("state", {})
    found = state.get(CLIENT_STATE)
    if found is None:
        peer = scope.get("client")
        trusted = scope["app"].state[TRUSTED_PROXIES]
        found = client_address(peer[0] if peer else None, forwarded_for, trusted)
        state[CLIENT_STATE] = found
    return str(found)


def client_ip(request: Request) -> str:
    return scope_client(request.scope, request.headers.get("x-forwarded-for"))


def remember(scope: Any, principal: Principal) -> None:
    scope.setdefault("state", {})[PRINCIPAL_STATE] = principal


async def authorize(keys: KeyService, request: Request, scope: str) -> Principal:
    """The request's Principal, or raise 401/403. A plain call: cheaper than a dependency on
    the hot send path."""
    return await authorize_presented(keys, request, presented_key(request), scope)


async def authorize_presented(
    keys: KeyService, request: Request, presented: str | None, scope: str
) -> Principal:
    """`authorize` for a key the request presents its own way (the compat APIs' headers)."""
    p = await authorize_key(keys, presented, scope, client_ip(request))
    remember(request.scope, p)
    return p


async def authorize_key(
    keys: KeyService, presented: str | None, scope: str, client: str | None
) -> Principal:
    """The Principal of a presented key with `scope`, used from `client`, or raise 401/403."""
    p = await keys.authenticate(presented, client)
    KeyService.require(p, scope)
    tenant_id_var.set(p.tenant_id)
    return p


def needs(scope: str) -> Provide:
    """A dependency that yields the request's Principal, or raises 401/403."""

    async def principal(request: Request, keys: Injected[KeyService]) -> Principal:
        return await authorize(keys, request, scope)

    fn: Callable[[Request, KeyService], Awaitable[Principal]] = principal
    return Provide(fn)
