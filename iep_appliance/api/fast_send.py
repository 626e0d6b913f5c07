"""`POST /v1/messages` without Litestar's per-request machinery: the hot path of the API.

Every product sends through this one route, so it is served at the ASGI layer, in front of
Litestar's router: read the body, authenticate (cached), decode strictly into `SendRequest`,
then the same `accept_send` the Litestar handler calls. It answers only what it can answer
exactly as the handler would; anything else — another content type, a body over the limit
or not strict JSON of the right shape — goes to Litestar untouched (the body replayed), so
the handler and the problem handlers keep the single definition of every error. A domain
error raised here is rendered by the same problem handler.

What it skips is measured in bench/accept.py: routing, the signature model, kwargs
extraction and the Response object cost more than the durable accept itself.
"""

from typing import Any

import msgspec
from litestar import Request
from litestar.types import ASGIApp, Receive, Scope, Send

from iep_appliance.api.auth import authorize_key, key_in
from iep_appliance.api.problems import iep_error_handler, internal_error_handler
from iep_appliance.api.send import accept_send
from iep_appliance.api.strict_input import replay_body
from iep_appliance.api.timing import timed
from iep_appliance.domain.errors import IEPError
from iep_appliance.domain.ip_allowlist import client_address
from iep_appliance.domain.models import SendRequest
from iep_appliance.services.keys import KeyService
from iep_appliance.services.messages import MessageService
from iep_appliance.services.ratelimits import RateLimitService
from iep_appliance.services.system import Health

ROUTE = "/v1/messages"
_decoder = msgspec.json.Decoder(SendRequest, strict=True)
_encode = msgspec.json.encode
_JSON_TYPES = (b"application/json", b"application/json; charset=utf-8")


class FastSend:
    def __init__(
        self,
        inner: ASGIApp,
        *,
        keys: KeyService,
        messages: MessageService,
        rate_limits: RateLimitService,
        health: Health,
        max_request_bytes: int,
        trusted_proxies: tuple[str, ...] = (),
    ) -> None:
        self.inner = inner
        self.trusted_proxies = trusted_proxies
        self.keys = keys
        self.messages = messages
        self.rate_limits = rate_limits
        self.health = health
        self.limit = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != ROUTE:
            await self.inner(scope, receive, send)
            return
        headers = _headers(scope)
        if headers.get(b"content-type", b"application/json").lower() not in _JSON_TYPES:
            await self.inner(scope, receive, send)
            return
        body, state = await _read_body(receive, self.limit)
        if state == "gone":
            return  # the client left before sending its body: nobody to answer
        if state == "over":
            await self.inner(scope, replay_body(body, receive, more=True), send)
            return
        try:
            data = _decoder.decode(body)
        except msgspec.DecodeError:  # Litestar's handler names the field, as it always has
            await self.inner(scope, replay_body(body, receive, more=False), send)
            return
        await self._serve(scope, receive, send, headers, data)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
        data: SendRequest,
    ) -> None:
        with timed(self.health, "POST", ROUTE, ROUTE) as request:
            try:
                idempotency = headers.get(b"idempotency-key")
                peer = scope.get("client")
                client = client_address(
                    peer[0] if peer else None,
                    _header(headers, b"x-forwarded-for"),
                    self.trusted_proxies,
                )
                principal = await authorize_key(self.keys, _presented(headers), "send", client)
                status, view, extra = await accept_send(
                    self.messages,
                    self.rate_limits,
                    principal,
                    data,
                    idempotency.decode("latin-1") if idempotency is not None else None,
                )
            except Exception as exc:  # rendered exactly as the Litestar handler's would be
                request.status = await self._problem(scope, receive, send, exc)
                return
            request.status = status
            payload = _encode(view)
            response_headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ]
            for name, value in extra.items():
                response_headers.append((name.lower().encode(), value.encode()))
            await send(
                {"type": "http.response.start", "status": status, "headers": response_headers}
            )
            await send({"type": "http.response.body", "body": payload})

    async def _problem(self, scope: Scope, receive: Receive, send: Send, exc: Exception) -> int:
        request: Request[Any, Any, Any] = Request(scope, receive)
        if isinstance(exc, IEPError):
            response = iep_error_handler(request, exc)
        else:
            response = internal_error_handler(request, exc)
        await response.to_asgi_response(None, request)(scope, receive, send)
        return response.status_code


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1") if value is not None else None


def _presented(headers: dict[bytes, bytes]) -> str | None:
    """The API key, found as for every other route (api/auth.key_in)."""
    x_api_key = headers.get(b"x-api-key")
    authorization = headers.get(b"authorization")
    return key_in(
        x_api_key.decode("latin-1") if x_api_key is not None else None,
        authorization.decode("latin-1") if authorization is not None else None,
    )


def _headers(scope: Scope) -> dict[bytes, bytes]:
    # ASGI servers give lower-case names; the first of a repeated header wins, as in Litestar.
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.lower(), value)
    return found


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, str]:
    """(the body, "complete"), or what was read with "over" past `limit` / "gone"."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), "gone"
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            return b"".join(chunks), "over"
        if not message.get("more_body", False):
            return b"".join(chunks), "complete"
