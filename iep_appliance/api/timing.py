"""Request timing, in one place for the three ways a request is answered: Litestar's router
(`middleware`), the ASGI send fast path and the strict-input guard. Each request gets a fresh
log correlation, whatever task served the previous one, and one observation of its latency
(`iep_http_request_duration_seconds`, plus an access-log line when enabled)."""

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from iep_appliance.logs import message_id_var, tenant_id_var
from iep_appliance.services.system import Health


class Timed:
    """What the observation records: set `status` (and `route`, once known) while serving."""

    def __init__(self, route: str) -> None:
        self.route = route
        self.status = 500


@contextlib.contextmanager
def timed(health: Health, method: str, path: str, route: str = "unmatched") -> Iterator[Timed]:
    start = time.perf_counter()
    message_token = message_id_var.set(None)
    tenant_token = tenant_id_var.set(None)
    request = Timed(route)
    try:
        yield request
    finally:
        seconds = time.perf_counter() - start
        health.observe_request(method, request.route, request.status, seconds, path)
        message_id_var.reset(message_token)
        tenant_id_var.reset(tenant_token)


def middleware(health: Health) -> Any:
    """Litestar middleware timing every routed request."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def timing(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            with timed(health, scope["method"], scope["path"]) as request:

                async def send_wrapper(message: Any) -> None:
                    if message["type"] == "http.response.start":
                        request.status = message["status"]
                    await send(message)

                try:
                    await app(scope, receive, send_wrapper)
                finally:
                    handler = scope.get("route_handler")
                    if handler is not None:
                        request.route = next(iter(handler.paths))

        return timing

    return factory
