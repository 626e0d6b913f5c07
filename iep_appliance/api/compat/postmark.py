"""Postmark-compatible API at the root (DESIGN §10.2), for `postmarker` and Postmark's SDKs.

`PostmarkClient(server_token=<IEP key>, root_api_url="http://HOST:PORT")`. `POST /email`,
`POST /email/batch` and `GET /messages/outbound/{id}/details`, header
`X-Postmark-Server-Token`. Bodies and answers are Postmark's (domain/compat_postmark.py);
every send goes through the same `accept_send` as POST /v1/messages. Errors are Postmark's
`{"ErrorCode", "Message"}` (10 → 401; 300, 400, 402, 406, 410, 411, 701 → 422), from the one
map `postmark_error`. A batch answers one result per message, as Postmark does.
"""

from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.params import FromPath

from iep_appliance.api.auth import authorize_presented
from iep_appliance.api.compat.answers import (
    every_error_to,
    json_answer,
    other_error,
    retry_headers,
)
from iep_appliance.api.inject import Injected
from iep_appliance.api.send import accept_send
from iep_appliance.domain import compat_postmark as rules
from iep_appliance.domain import ids
from iep_appliance.domain.errors import (
    Forbidden,
    IEPError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    SenderNotAllowed,
    Unauthorized,
    ValidationFailed,
)
from iep_appliance.domain.models import Principal
from iep_appliance.services.compat import CompatService
from iep_appliance.services.keys import KeyService
from iep_appliance.services.messages import MessageService
from iep_appliance.services.ratelimits import RateLimitService

_email_decoder = msgspec.json.Decoder(rules.PostmarkEmail)
_batch_decoder = msgspec.json.Decoder(list[rules.PostmarkEmail])
TOKEN_HEADER = "x-postmark-server-token"
ORIGIN = "postmark"


class PostmarkError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def postmark_error(request: Request | None, exc: Exception) -> tuple[int, int, str, dict]:
    """(HTTP status, ErrorCode, Message, headers) for what a Postmark request raised."""
    if isinstance(exc, PostmarkError):
        return exc.status, exc.code, exc.message, {}
    if isinstance(exc, Unauthorized):
        if request is not None and not request.headers.get(TOKEN_HEADER):
            message = "Request does not contain a valid Server token."
        else:
            message = (
                "The Server Token you provided in the X-Postmark-Server-Token request header"
                " was invalid. Please verify that you are using a valid token."
            )
        return 401, rules.BAD_TOKEN, message, {}
    if isinstance(exc, Forbidden):
        return 401, rules.BAD_TOKEN, f"{exc.detail}.", {}
    if isinstance(exc, ValidationFailed | PayloadTooLarge):
        return 422, rules.error_code(exc.errors), rules.message_of(exc.errors), {}
    if isinstance(exc, SenderNotAllowed):
        domain = exc.detail.split("'")[1] if "'" in exc.detail else "sender"
        message = (
            f"The 'From' address you supplied is not a Sender Signature on your account:"
            f" the domain {domain} is not allowed."
        )
        return 422, rules.SENDER_NOT_FOUND, message, {}
    if isinstance(exc, NotFound):
        return 422, rules.NOT_FOUND, "This message was not found.", {}
    if isinstance(exc, RateLimited):
        return 429, 429, "Rate limit exceeded: too many requests.", retry_headers(exc)
    status, message = other_error(request, exc, "Invalid email request.")
    return status, rules.INVALID_REQUEST if status < 500 else 500, message, {}


def postmark_error_handler(request: Request, exc: Exception) -> Response:
    status, code, message, headers = postmark_error(request, exc)
    return json_answer({"ErrorCode": code, "Message": message}, status, headers)


async def _principal(request: Request, keys: KeyService, scope: str) -> Principal:
    token = request.headers.get(TOKEN_HEADER)
    return await authorize_presented(keys, request, token.strip() if token else None, scope)


def _decode(decoder: msgspec.json.Decoder, body: bytes) -> Any:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise PostmarkError(422, rules.INVALID_REQUEST, f"Invalid email request: {exc}.") from None
    except msgspec.DecodeError as exc:
        raise PostmarkError(422, rules.INVALID_JSON, f"Invalid JSON: {exc}.") from None


async def _send_one(
    compat: CompatService,
    rate_limits: RateLimitService,
    principal: Principal,
    email: rules.PostmarkEmail,
) -> tuple[dict[str, Any], dict[str, str]]:
    req = rules.to_send_request(email)
    everyone = [*req.to, *req.cc, *req.bcc]
    inactive = await compat.suppressed(principal.tenant_id, everyone)
    if everyone and len(inactive) == len(everyone):
        raise PostmarkError(
            422,
            rules.INACTIVE_RECIPIENT,
            "You tried to send to recipient(s) that have been marked as inactive."
            f" Found inactive addresses: {', '.join(inactive)}.",
        )
    _, view, headers = await accept_send(
        compat.messages, rate_limits, principal, req, None, origin=ORIGIN
    )
    body = {
        "To": email.to,
        "SubmittedAt": ids.iso(compat.clock.now()),
        "MessageID": view.message_id,
        "ErrorCode": 0,
        "Message": "OK",
    }
    return body, headers


@post("/email", status_code=200, include_in_schema=False)
async def send_email(
    request: Request,
    keys: Injected[KeyService],
    compat: Injected[CompatService],
    rate_limits: Injected[RateLimitService],
) -> Response:
    principal = await _principal(request, keys, "send")
    email = _decode(_email_decoder, await request.body())
    body, headers = await _send_one(compat, rate_limits, principal, email)
    return json_answer(body, 200, headers)


@post("/email/batch", status_code=200, include_in_schema=False)
async def send_batch(
    request: Request,
    keys: Injected[KeyService],
    compat: Injected[CompatService],
    rate_limits: Injected[RateLimitService],
) -> Response:
    """One result per message, in order; a bad message gets its error, the others are sent."""
    principal = await _principal(request, keys, "send")
    emails = _decode(_batch_decoder, await request.body())
    if len(emails) > rules.MAX_BATCH:
        raise PostmarkError(
            422, rules.TOO_MANY_BATCH, f"Too many batch messages: at most {rules.MAX_BATCH}."
        )
    results: list[dict[str, Any]] = []
    for email in emails:
        try:
            body, _ = await _send_one(compat, rate_limits, principal, email)
        except (IEPError, PostmarkError) as exc:
            status, code, message, _h = postmark_error(request, exc)
            if status == 401 or status == 429:
                raise  # the whole request is refused, as Postmark does
            body = {"ErrorCode": code, "Message": message, "To": email.to}
        results.append(body)
    return json_answer(results)


@get("/messages/outbound/{message_id:str}/details", include_in_schema=False)
async def message_details(
    request: Request,
    keys: Injected[KeyService],
    messages: Injected[MessageService],
    message_id: FromPath[str],
) -> Response:
    principal = await _principal(request, keys, "read")
    record = await messages.get(principal.tenant_id, message_id)
    return json_answer(rules.details(record))


ROUTER = Router(
    path="/",
    route_handlers=[send_email, send_batch, message_details],
    exception_handlers=every_error_to(postmark_error_handler, PostmarkError),
)
HANDLERS = [ROUTER]
