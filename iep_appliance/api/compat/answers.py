"""What the compat APIs (Postmark's, Resend's) share: a JSON answer, the exception map of a
compat router, which sends every error to the router's one error handler, and what every such
handler does the same way (the headers of a 429; the errors its own rules do not name)."""

import logging
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from iep_appliance.domain.errors import IEPError, RateLimited

log = logging.getLogger("iep.api")
_encode = msgspec.json.encode

ErrorHandler = Callable[[Request, Exception], Response]


def json_answer(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=_encode(content), status_code=status, media_type="application/json", headers=headers
    )


def every_error_to(handler: ErrorHandler, own_error: type[Exception]) -> ExceptionHandlersMap:
    """The router's exception handlers: IEP's errors, the API's own, Litestar's, and the rest."""
    return {
        IEPError: handler,
        own_error: handler,
        ValidationException: handler,
        HTTPException: handler,
        Exception: handler,
    }


def retry_headers(exc: RateLimited) -> dict[str, str]:
    """The headers of a refusal for a rate limit: the limit's own and `Retry-After`."""
    return {**exc.headers, "Retry-After": str(exc.retry_after)}


def log_unexpected(request: Request | None, exc: Exception) -> None:
    """Log what no rule of the map names (a bug), with the request's path."""
    path = request.url.path if request is not None else ""
    log.error("request.error", exc_info=exc, extra={"fields": {"path": path}})


def other_error(request: Request | None, exc: Exception, invalid: str) -> tuple[int, str]:
    """(HTTP status, message) for what an API's own rules do not name: another IEP error or a
    bad request is refused (422, or Litestar's own status under 500; `invalid` when an IEP
    error says nothing); anything else is a bug, logged, and a 500."""
    if isinstance(exc, IEPError):
        return 422, exc.detail or invalid
    if isinstance(exc, ValidationException):
        return 422, str(exc.detail)
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return exc.status_code, str(exc.detail)
    log_unexpected(request, exc)
    return 500, "An unexpected error occurred; it has been logged."
