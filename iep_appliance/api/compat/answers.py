"""What the compat APIs (Postmark's, Resend's) share: a JSON answer, and the exception map of a
compat router, which sends every error to the router's one error handler."""

from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from iep_appliance.domain.errors import IEPError

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
