"""API-key authentication and scope checks for /v1, as Litestar dependencies.

`x-api-key: <key>` or `Authorization: Bearer <key>`; wrong or absent → 401, missing
scope → 403. The verified key is cached by KeyService, so argon2 is not paid per request.
"""

from collections.abc import Awaitable, Callable

from litestar import Request
from litestar.di import Provide

from iep_appliance.api.inject import Injected
from iep_appliance.domain.models import Principal
from iep_appliance.logs import tenant_id_var
from iep_appliance.services.keys import KeyService


def presented_key(request: Request) -> str | None:
    return key_in(request.headers.get("x-api-key"), request.headers.get("authorization"))


def key_in(x_api_key: str | None, authorization: str | None) -> str | None:
    """The API key of `x-api-key`, else of `Authorization: Bearer …`."""
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


async def authorize(keys: KeyService, request: Request, scope: str) -> Principal:
    """The request's Principal, or raise 401/403. A plain call: cheaper than a dependency on
    the hot send path."""
    return await authorize_key(keys, presented_key(request), scope)


async def authorize_key(keys: KeyService, presented: str | None, scope: str) -> Principal:
    """The Principal of a presented key with `scope`, or raise 401/403."""
    p = await keys.authenticate(presented)
    KeyService.require(p, scope)
    tenant_id_var.set(p.tenant_id)
    return p


def needs(scope: str) -> Provide:
    """A dependency that yields the request's Principal, or raises 401/403."""

    async def principal(request: Request, keys: Injected[KeyService]) -> Principal:
        return await authorize_key(keys, presented_key(request), scope)

    fn: Callable[[Request, KeyService], Awaitable[Principal]] = principal
    return Provide(fn)
