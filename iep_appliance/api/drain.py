"""The HTTP drain at SIGTERM: requests in flight finish, new ones get 503 until the stop.

`Drain` sits outermost in the app's ASGI entry point and counts the requests it lets through.
Once `begin()` is called, a new request (other than the probes) is answered `503`
problem+json with `Retry-After` and `Connection: close`, so a client's kept-alive connection
ends with an answer, never cut under a request it just sent. `http_server.py` waits for
`idle()` (no admitted request left) and for the connections open at the signal to close
before it closes the listener.
"""

import msgspec
from litestar import Litestar
from litestar.types import ASGIApp, Receive, Scope, Send

# Liveness, readiness and metrics keep answering while the appliance drains: /ready says
# "not_ready" (503) on its own, and a probe must not read a drain as a dead process.
_PROBES = frozenset({"/health", "/ready", "/metrics"})
RETRY_AFTER_SECONDS = 5
_BODY = msgspec.json.encode(
    {
        "type": "https://iep.dev/problems/shutting-down",
        "title": "Shutting down",
        "status": 503,
        "detail": "The appliance is stopping; retry after it restarts or on another instance",
        "errors": [],
        "retryAfter": RETRY_AFTER_SECONDS,
    }
)
_HEADERS = [
    (b"content-type", b"application/problem+json"),
    (b"content-length", str(len(_BODY)).encode()),
    (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
    (b"connection", b"close"),
]


def install(app: Litestar) -> "Drain":
    """Put the drain in front of everything else in the app's entry point."""
    drain = Drain(app.asgi_handler)
    app.asgi_handler = drain
    app.state.drain = drain
    return drain


class Drain:
    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner
        self.draining = False
        self.in_flight = 0  # admitted requests not yet finished

    def begin(self) -> None:
        self.draining = True

    def idle(self) -> bool:
        return self.in_flight == 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        if self.draining and scope["path"] not in _PROBES:
            await _refuse(send)
            return
        self.in_flight += 1
        try:
            await self.inner(scope, receive, send)
        finally:
            self.in_flight -= 1


async def _refuse(send: Send) -> None:
    await send({"type": "http.response.start", "status": 503, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY, "more_body": False})
