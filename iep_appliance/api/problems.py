"""The one map from exceptions to RFC 9457 problem details (`application/problem+json`).

Every 4xx names its fields in `errors: [{field, message}]`. Litestar's own validation,
body-size and routing errors go through here too. Anything unmapped is a logged 500.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, get_args

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.utils.scope.state import ScopeState

from iep_appliance.domain.errors import (
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    IEPError,
    NotFound,
    NotPermitted,
    PayloadTooLarge,
    RateLimited,
    SenderNotAllowed,
    SenderPending,
    StoreUnavailable,
    TenantDeactivated,
    Unauthorized,
    ValidationFailed,
)
from iep_appliance.domain.field_errors import send_errors, type_errors
from iep_appliance.domain.models import SendRequest
from iep_appliance.domain.validation import decode_error_path

log = logging.getLogger("iep.api")
PROBLEM = "application/problem+json"
_encode = msgspec.json.encode

# exception type -> (status, type slug, title)
_MAP: list[tuple[type[IEPError], int, str, str]] = [
    (ValidationFailed, 422, "validation-failed", "Request validation failed"),
    (BadRequest, 400, "bad-request", "Bad request"),
    (PayloadTooLarge, 413, "payload-too-large", "Payload too large"),
    (SenderPending, 403, "sender-pending", "Sender domain pending verification"),
    (SenderNotAllowed, 403, "sender-not-allowed", "Sender domain not allowed"),
    (Unauthorized, 401, "unauthorized", "Authentication required"),
    (NotPermitted, 403, "not-permitted", "Not permitted"),
    (TenantDeactivated, 403, "tenant-deactivated", "Tenant deactivated"),
    (Forbidden, 403, "forbidden", "Missing scope"),
    (NotFound, 404, "not-found", "Not found"),
    (Conflict, 409, "conflict", "Conflict"),
    (RateLimited, 429, "rate-limited", "Rate limit exceeded"),
    (StoreUnavailable, 503, "store-unavailable", "Service unavailable"),
]


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    errors: list[FieldError] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> Response[bytes]:
    body: dict[str, Any] = {
        "type": f"https://iep.dev/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body["errors"] = [{"field": e.path, "message": e.message} for e in errors or []]
    for key, value in (extra or {}).items():
        body.setdefault(key, value)  # never over the RFC 9457 members (`status` stays the code)
    return Response(
        content=_encode(body), status_code=status, media_type=PROBLEM, headers=headers or {}
    )


def iep_error_handler(request: Request, exc: IEPError) -> Response[bytes]:
    for kind, status, slug, title in _MAP:
        if isinstance(exc, kind):
            errors = getattr(exc, "errors", None)
            extra = exc.extra if isinstance(exc, Conflict) else None
            headers = None
            if isinstance(exc, RateLimited):
                headers = {**exc.headers, "Retry-After": str(exc.retry_after)}
                extra = {"retryAfter": exc.retry_after}
            if isinstance(exc, StoreUnavailable):  # full or read-only disk: nothing written
                log.warning("request.store_unavailable", extra={"fields": {"reason": exc.reason}})
                headers = {"Retry-After": str(exc.retry_after)}
                extra = {"retryAfter": exc.retry_after}
            if isinstance(exc, Unauthorized):
                headers = {"WWW-Authenticate": 'Bearer realm="iep"'}
            return problem(
                status, slug, title, exc.detail or title, errors, extra, headers, request.url.path
            )
    return internal_error_handler(request, exc)


def validation_handler(
    now: Callable[[], datetime],
) -> Callable[[Request, ValidationException], Response[bytes]]:
    """422 naming every field; `now` (the appliance's clock) judges `sendAt` in the past."""

    def handler(request: Request, exc: ValidationException) -> Response[bytes]:
        errors = _every_body_error(request, now) or _named_errors(exc)
        return problem(
            422,
            "validation-failed",
            "Request validation failed",
            "Request validation failed",
            errors,
            instance=request.url.path,
        )

    return handler


def _every_body_error(request: Request, now: Callable[[], datetime]) -> list[FieldError]:
    """All field errors of a JSON body the handler's Struct refused (DESIGN §10.1: every field
    error in one answer), or [] to fall back on Litestar's first one."""
    handler = request.scope.get("route_handler")
    parameter = handler.parsed_fn_signature.parameters.get("data") if handler else None
    target = _struct_of(parameter.annotation) if parameter is not None else None
    raw = ScopeState.from_scope(request.scope).body
    if target is None or not isinstance(raw, bytes) or not raw:
        return []
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return []
    if target is SendRequest:
        return send_errors(data, now())
    return type_errors(data, target)


def _struct_of(annotation: Any) -> type[msgspec.Struct] | None:
    """The Struct a body annotation names (`X`, `X | None`), else None."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, msgspec.Struct):
            return candidate
    return None


def _named_errors(exc: ValidationException) -> list[FieldError]:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid"))
        key = str(item.get("key") or "")
        if key == "data" and message == "'data'":  # Litestar's KeyError for an empty body
            fe = FieldError("body", "a JSON request body is required")
        elif key == "data" or not key:
            fe = decode_error_path(message)
        elif item.get("source") == "body":
            # Litestar splits msgspec's "... - at `$.from`" into message and key; join them so
            # a missing or unknown member is named in full (`from.email`, not `from`).
            fe = decode_error_path(f"{message} - at `$.{key}`")
        else:
            fe = FieldError(key, message[:1].lower() + message[1:])
        errors.append(fe)
    if not errors:
        errors = [FieldError("body", str(exc.detail))]
    return errors


def http_error_handler(request: Request, exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if status >= 500:
        return internal_error_handler(request, exc)
    field = "body"
    if isinstance(exc, NotFoundException):
        field = "path"
    elif isinstance(exc, NotAuthorizedException | PermissionDeniedException):
        field = "x-api-key"
    title = {
        400: "Bad request",
        404: "Not found",
        405: "Method not allowed",
        413: "Payload too large",
    }.get(status, "Request error")
    detail = str(exc.detail)
    if status == 400 and "JSON" in detail:
        title = "Malformed JSON"
    return problem(
        status,
        title.lower().replace(" ", "-"),
        title,
        detail,
        [FieldError(field, detail)],
        headers=dict(exc.headers or {}),
        instance=request.url.path,
    )


def internal_error_handler(request: Request, exc: Exception) -> Response[bytes]:
    log.error(
        "request.error",
        exc_info=exc,
        extra={"fields": {"path": request.url.path, "method": request.method}},
    )
    return problem(
        500,
        "internal-error",
        "Internal server error",
        "An unexpected error occurred; it has been logged.",
        [],
    )


def exception_handlers(now: Callable[[], datetime]) -> dict[Any, Any]:
    """The app's problem handlers (RFC 9457), `now` being the appliance's clock."""
    return {
        IEPError: iep_error_handler,
        ValidationException: validation_handler(now),
        HTTPException: http_error_handler,
        Exception: internal_error_handler,
    }
