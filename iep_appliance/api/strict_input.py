"""Strict input for every /v1 endpoint (DESIGN §10.1), in front of the fast path and Litestar.

Bodies (POST, PUT, PATCH): a content type other than JSON (`application/json` or
`application/*+json`, UTF-8 if a charset is named) → 415; a body that is not UTF-8 or nests
deeper than 64 → 400; a NUL in any string → 422 naming each field (domain/json_guard.py). A
request without a Content-Type is read as JSON, as before. The body is then replayed to the
app, so the fast path (api/fast_send.py) and Litestar's handlers see only bodies that passed,
and answer alike. A body over `server.max_request_bytes` goes on untouched (Litestar's 413).

Query strings (GET): a parameter the route does not declare → 400 naming it, so a typo
(`?statuss=failed`) is not read as "no filter" (`unknown_query_guard`, a before_request hook).
"""

import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Litestar, Request
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from iep_appliance.api.problems import PROBLEM, problem
from iep_appliance.domain.errors import BadRequest, FieldError
from iep_appliance.domain.json_guard import check_body
from iep_appliance.services.system import Health

PREFIX = "/v1/"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def install(app: Litestar, health: Health, max_request_bytes: int) -> None:
    """Put the guard in front of everything (after the send fast path) and learn, for every
    GET route, the query parameters its handler declares."""
    app.asgi_handler = StrictInput(app.asgi_handler, health, max_request_bytes)
    known: dict[int, frozenset[str]] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler, kwargs_model in route.route_handler_map.values():
            names = {p.field_alias for p in kwargs_model.expected_query_params}
            known[id(handler)] = frozenset(names)
    app.state.known_query_params = known


def unknown_query_guard(request: Request[Any, Any, Any]) -> None:
    """before_request: refuse a /v1 GET whose query names a parameter the route lacks."""
    if request.method != "GET" or not request.url.path.startswith(PREFIX):
        return
    if not request.scope.get("query_string"):
        return
    known = request.app.state.known_query_params.get(id(request.route_handler))
    if known is None:
        return
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise BadRequest(
            [FieldError(name, "is not a known query parameter") for name in unknown],
            f"Unknown query parameter(s): {', '.join(unknown)}"
            + (f" (known: {', '.join(sorted(known))})" if known else " (this route takes none)"),
        )


def json_content_type(value: bytes | None) -> bool:
    """Whether a Content-Type header names JSON (absent: taken as JSON)."""
    if value is None:
        return True
    media, _, params = value.decode("latin-1").partition(";")
    media = media.strip().lower()
    kind, _, subtype = media.partition("/")
    if not (media == "application/json" or (kind == "application" and subtype.endswith("+json"))):
        return False
    for param in params.split(";"):
        name, _, val = param.partition("=")
        if name.strip().lower() == "charset" and val.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return False
    return True


class StrictInput:
    def __init__(self, inner: ASGIApp, health: Health, max_request_bytes: int) -> None:
        self.inner = inner
        self.health = health
        self.limit = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _BODY_METHODS
            or not scope["path"].startswith(PREFIX)
        ):
            await self.inner(scope, receive, send)
            return
        content_type = None
        has_body = False
        for name, value in scope["headers"]:
            lower = name.lower()
            if lower == b"content-type" and content_type is None:
                content_type = value
            elif lower == b"content-length":
                has_body = has_body or value.strip() not in (b"0", b"")
            elif lower == b"transfer-encoding":
                has_body = True
        if not has_body:
            await self.inner(scope, receive, send)
            return
        start = time.perf_counter()
        if not json_content_type(content_type):
            shown = content_type.decode("latin-1") if content_type is not None else ""
            await self._refuse(
                scope,
                send,
                start,
                415,
                "unsupported-media-type",
                "Unsupported media type",
                f"The body must be JSON (Content-Type: application/json), not {shown!r}",
                [FieldError("content-type", "must be application/json")],
            )
            return
        body, complete, gone = await _read_body(receive, self.limit)
        if gone:
            return  # the client left before sending its body: nobody to answer
        if complete:
            refused = check_body(body)
            if refused is not None:
                title = "Bad request" if refused.status == 400 else "Request validation failed"
                slug = "bad-request" if refused.status == 400 else "validation-failed"
                await self._refuse(
                    scope, send, start, refused.status, slug, title, refused.detail, refused.errors
                )
                return
        await self.inner(scope, replay_body(body, receive, more=not complete), send)

    async def _refuse(
        self,
        scope: Scope,
        send: Send,
        start: float,
        status: int,
        slug: str,
        title: str,
        detail: str,
        errors: list[FieldError],
    ) -> None:
        response = problem(status, slug, title, detail, errors, instance=scope["path"])
        payload = response.content
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", PROBLEM.encode()),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        self.health.observe_request(
            scope["method"], "strict_input", status, time.perf_counter() - start, scope["path"]
        )


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool, bool]:
    """(what was read, whether it is the whole body within `limit`, whether the client left)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False, True
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            return b"".join(chunks), False, False
        if not message.get("more_body", False):
            return b"".join(chunks), True, False


def replay_body(body: bytes, receive: Receive, more: bool) -> Callable[[], Awaitable[Message]]:
    """A receive that hands the app the body already read, then carries on with the client."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replayed
