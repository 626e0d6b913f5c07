"""Resend-compatible API under /compat/resend (DESIGN §10.2), for the unmodified Resend SDKs.

`resend.api_url = "http://HOST:PORT/compat/resend"`, `resend.api_key = <IEP key>`. Bodies and
answers are Resend's (domain/compat_resend.py maps them); every send goes through the same
`accept_send` as POST /v1/messages (rate limits, validation, suppressions, sandbox keys,
queues, webhooks). Errors are Resend's `{"statusCode", "message", "name"}` with its names
and status codes, from the one map `resend_error_handler`.
"""

from typing import Any

import msgspec
from litestar import Request, Response, Router, get, patch, post
from litestar.params import FromPath

from iep_appliance.api.auth import authorize, presented_key
from iep_appliance.api.compat.answers import (
    every_error_to,
    json_answer,
    other_error,
    retry_headers,
)
from iep_appliance.api.inject import Injected
from iep_appliance.api.send import accept_send
from iep_appliance.domain import compat_resend as rules
from iep_appliance.domain.cursors import encode_cursor
from iep_appliance.domain.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    SenderNotAllowed,
    Unauthorized,
    ValidationFailed,
)
from iep_appliance.services.compat import CompatService
from iep_appliance.services.keys import KeyService
from iep_appliance.services.messages import MessageService
from iep_appliance.services.ratelimits import RateLimitService

_email_decoder = msgspec.json.Decoder(rules.ResendEmail)
_batch_decoder = msgspec.json.Decoder(list[rules.ResendEmail])
_update_decoder = msgspec.json.Decoder(rules.ResendUpdate)
ORIGIN = "resend"


class ResendError(Exception):
    """An answer in Resend's error shape that no IEP exception stands for."""

    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status, self.name, self.message = status, name, message


def error(status: int, name: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_answer({"statusCode": status, "message": message, "name": name}, status, headers)


def _field_message(errors: list[FieldError]) -> tuple[str, str]:
    """(name, message) for field errors: `missing_required_field` when all are missing."""
    missing = [rules.resend_field(e.path) for e in errors if e.message == "is required"]
    if missing and len(missing) == len(errors):
        return "missing_required_field", " ".join(f"Missing `{f}` field." for f in missing)
    parts = [f"Invalid `{rules.resend_field(e.path)}` field: {e.message}." for e in errors]
    return "validation_error", " ".join(parts)


def resend_error_handler(request: Request, exc: Exception) -> Response:
    """The one map from what a compat request raised to Resend's error answer."""
    if isinstance(exc, ResendError):
        return error(exc.status, exc.name, exc.message)
    if isinstance(exc, Unauthorized):
        if not presented_key(request):
            return error(401, "missing_api_key", "Missing API key in the authorization header.")
        return error(403, "invalid_api_key", "API key is invalid.")
    if isinstance(exc, Forbidden):
        if "deactivated" in exc.detail:
            return error(403, "invalid_api_key", "API key is invalid.")
        return error(401, "restricted_api_key", f"This API key is restricted: {exc.detail}.")
    if isinstance(exc, ValidationFailed):
        if any(e.path.endswith("idempotencyKey") for e in exc.errors):
            return error(400, "invalid_idempotency_key", "The key must be between 1-255 chars.")
        name, message = _field_message(exc.errors)
        return error(422, name, message)
    if isinstance(exc, PayloadTooLarge):
        _, message = _field_message(exc.errors)
        return error(422, "invalid_attachment", message)
    if isinstance(exc, SenderNotAllowed):
        domain = exc.detail.split("'")[1] if "'" in exc.detail else "sender"
        return error(
            403,
            "validation_error",
            f"The {domain} domain is not verified. Please, add and verify your domain.",
        )
    if isinstance(exc, NotFound):
        return error(404, "not_found", "Email not found")
    if isinstance(exc, RateLimited):
        return error(429, "rate_limit_exceeded", "Too many requests.", retry_headers(exc))
    if isinstance(exc, Conflict):
        if "Idempotency" in exc.detail:
            return error(
                409,
                "invalid_idempotent_request",
                "Same idempotency key used with a different request payload.",
            )
        return error(422, "validation_error", exc.detail)
    status, message = other_error(request, exc, "Invalid request.")
    if status >= 500:
        return error(status, "application_error", message)
    names = {404: "not_found", 405: "method_not_allowed"}  # Litestar's own refusals
    return error(status, names.get(status, "validation_error"), message)


def _decode(decoder: msgspec.json.Decoder, body: bytes) -> Any:
    if not body.strip():
        raise ResendError(422, "missing_required_field", "The request body is missing.")
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise ResendError(422, "validation_error", f"Invalid request body: {exc}.") from None
    except msgspec.DecodeError as exc:
        raise ResendError(400, "validation_error", f"Invalid JSON: {exc}.") from None


@post("/emails", status_code=200, include_in_schema=False)
async def send_email(
    request: Request,
    keys: Injected[KeyService],
    messages: Injected[MessageService],
    rate_limits: Injected[RateLimitService],
) -> Response:
    principal = await authorize(keys, request, "send")
    email = _decode(_email_decoder, await request.body())
    req = rules.to_send_request(email)
    key = request.headers.get("idempotency-key")
    _, view, headers = await accept_send(messages, rate_limits, principal, req, key, origin=ORIGIN)
    return json_answer({"id": view.message_id}, headers=headers)


@post("/emails/batch", status_code=200, include_in_schema=False)
async def send_batch(
    request: Request,
    keys: Injected[KeyService],
    compat: Injected[CompatService],
    rate_limits: Injected[RateLimitService],
) -> Response:
    principal = await authorize(keys, request, "send")
    mode = request.headers.get("x-batch-validation", "strict").strip().lower()
    if mode != "strict":
        raise ResendError(
            422, "validation_error", "Only `x-batch-validation: strict` is supported."
        )
    emails = _decode(_batch_decoder, await request.body())
    if not emails:
        raise ResendError(422, "validation_error", "The batch must contain at least one email.")
    if len(emails) > rules.MAX_BATCH:
        raise ResendError(
            422, "validation_error", f"The batch can contain at most {rules.MAX_BATCH} emails."
        )
    errors: list[FieldError] = []
    reqs = []
    for i, email in enumerate(emails):
        if email.attachments:
            errors.append(FieldError(f"[{i}].attachments", "not supported in a batch"))
        if email.scheduled_at is not None:
            errors.append(FieldError(f"[{i}].scheduled_at", "not supported in a batch"))
        try:
            reqs.append(rules.to_send_request(email, prefix=f"[{i}]."))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    n = len(reqs)
    headers = await rate_limits.check(principal, n)
    try:
        result = await compat.accept_group(
            principal, reqs, request.headers.get("idempotency-key"), origin=ORIGIN
        )
    except BaseException:
        rate_limits.release(principal, n)  # a rejected batch sends nothing, so counts nothing
        raise
    if result.replayed:
        rate_limits.release(principal, n)
    return json_answer({"data": [{"id": mid} for mid in result.message_ids]}, headers=headers)


@get("/emails/{email_id:str}", include_in_schema=False)
async def get_email(
    request: Request,
    keys: Injected[KeyService],
    messages: Injected[MessageService],
    email_id: FromPath[str],
) -> Response:
    principal = await authorize(keys, request, "read")
    record = await messages.get(principal.tenant_id, email_id)
    return json_answer(rules.email_object(record))


@get("/emails", include_in_schema=False)
async def list_emails(
    request: Request, keys: Injected[KeyService], messages: Injected[MessageService]
) -> Response:
    principal = await authorize(keys, request, "read")
    params = request.query_params
    raw_limit = params.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise ResendError(422, "validation_error", "Invalid `limit` field: must be 1 to 100.")
    if params.get("before"):
        raise ResendError(422, "validation_error", "The `before` cursor is not supported.")
    cursor = None
    if after := params.get("after"):
        last = await messages.get(principal.tenant_id, after)
        cursor = encode_cursor(last.created_at, last.id)
    limit = int(raw_limit)
    items, _ = await messages.list(principal.tenant_id, {}, limit + 1, cursor)
    data = [rules.email_object(m) for m in items[:limit]]
    return json_answer({"object": "list", "has_more": len(items) > limit, "data": data})


@patch("/emails/{email_id:str}", include_in_schema=False)
async def update_email(
    request: Request,
    keys: Injected[KeyService],
    compat: Injected[CompatService],
    email_id: FromPath[str],
) -> Response:
    principal = await authorize(keys, request, "send")
    update = _decode(_update_decoder, await request.body())
    if update.id is not None and update.id != email_id:
        raise ResendError(422, "validation_error", "Invalid `id` field: differs from the path.")
    await compat.reschedule(principal.tenant_id, email_id, update.scheduled_at)
    return json_answer({"object": "email", "id": email_id})


@post("/emails/{email_id:str}/cancel", status_code=200, include_in_schema=False)
async def cancel_email(
    request: Request,
    keys: Injected[KeyService],
    messages: Injected[MessageService],
    email_id: FromPath[str],
) -> Response:
    principal = await authorize(keys, request, "send")
    await messages.cancel(principal.tenant_id, email_id)
    return json_answer({"object": "email", "id": email_id})


ROUTER = Router(
    path="/compat/resend",
    route_handlers=[send_email, send_batch, get_email, list_emails, update_email, cancel_email],
    exception_handlers=every_error_to(resend_error_handler, ResendError),
)
HANDLERS = [ROUTER]
