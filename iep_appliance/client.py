"""Python client for the IEP HTTP API (DESIGN §4.2), and webhook verification for receivers.

Standalone: talks HTTP through httpx and imports nothing of the appliance but the pure
signature helpers, so a product can use it without running IEP code in-process.

    with Client("http://127.0.0.1:8025", "iep_…") as iep:
        accepted = iep.send({"to": ["a@x.com"], "from": {"email": "no@x.com"}, ...})
        for message in iep.list(status="failed", limit=100):
            iep.retry(message["messageId"])

`send` and `send_batch` always carry an idempotency key (the caller's, the body's
`idempotencyKey`, or a fresh one), so a network failure — the request or its answer lost —
is retried safely: the server answers a repeat with the original message (DESIGN §4). They
try `retries` more times with a doubling pause, then raise the network error.

Errors (network failures stay httpx's own `httpx.TransportError` and subclasses):

    Exception
     ├── IEPError                 a 4xx/5xx answer; carries the problem details (RFC 9457)
     │    └── RateLimitedError    429; `retry_after` seconds from the Retry-After header
     └── WebhookVerificationError a webhook request that is not signed by the given secret
"""

import asyncio
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx

from iep_appliance import __version__
from iep_appliance.domain.signing import sign, verify_iep_signature

__all__ = [
    "AsyncClient",
    "Client",
    "IEPError",
    "RateLimitedError",
    "WebhookVerificationError",
    "verify_webhook",
]

Body = dict[str, Any]  # a decoded JSON object of the API, camelCase as in DESIGN §4
USER_AGENT = f"iep-appliance-client/{__version__}"
WEBHOOK_TOLERANCE_SECONDS = 300
# Filters of GET /v1/messages; `from_` stands for `from`, a Python keyword.
LIST_FILTERS = {"status", "recipient", "from_", "from", "to", "category", "tag", "limit", "cursor"}
MAX_PAGES = 1_000_000  # a server repeating a cursor must not loop a caller forever
RETRIES = 2  # further tries of a send after a network failure, same idempotency key
BACKOFF_SECONDS = 0.2  # pause before the first of them; doubles each time


class IEPError(Exception):
    """The API answered 4xx/5xx (or 2xx without a JSON object); `problem` is the raw body."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        self.type: str = str(self.problem.get("type", "about:blank"))
        self.title: str = str(self.problem.get("title", f"HTTP {status}"))
        self.detail: str | None = self.problem.get("detail") or None
        errors = self.problem.get("errors")
        self.errors: list[dict[str, Any]] = list(errors) if isinstance(errors, list) else []
        super().__init__(f"{status} {self.title}" + (f": {self.detail}" if self.detail else ""))

    @property
    def fields(self) -> list[str]:
        """The names of the bad fields in `errors` (e.g. `to[0]`, `from.email`)."""
        return [str(e.get("field", "")) for e in self.errors if isinstance(e, Mapping)]


class RateLimitedError(IEPError):
    """429: a tenant rate limit is exhausted; retry after `retry_after` seconds (None: unknown)."""

    def __init__(self, status: int, problem: Mapping[str, Any], retry_after: float | None) -> None:
        super().__init__(status, problem)
        self.retry_after = retry_after


class WebhookVerificationError(Exception):
    """A webhook request whose signatures, timestamp or body do not check out."""


def _body(response: httpx.Response) -> Body:
    """The JSON object of a 2xx answer; IEPError (RateLimitedError for 429) otherwise."""
    try:
        data = response.json()
    except ValueError:
        data = None
    status = response.status_code
    if status < 400 and isinstance(data, dict):
        return data
    if not isinstance(data, dict):  # a proxy's HTML page, an empty body: still an IEPError
        data = {"title": response.reason_phrase or f"HTTP {status}", "detail": response.text[:500]}
    if status == 429:
        raise RateLimitedError(status, data, _retry_after(response.headers.get("retry-after")))
    raise IEPError(status, data)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP-date: IEP sends seconds, so a date is someone else's answer


def _list_params(filters: Mapping[str, Any]) -> dict[str, str]:
    unknown = set(filters) - LIST_FILTERS
    if unknown:
        raise TypeError(f"unknown list filter(s): {', '.join(sorted(unknown))}")
    params = {}
    for name, value in filters.items():
        if value is not None:
            text = value.isoformat() if isinstance(value, date) else str(value)
            params["from" if name == "from_" else name] = text
    return params


def _id_path(message_id: str, action: str = "") -> str:
    return f"/v1/messages/{quote(message_id, safe='')}" + (f"/{action}" if action else "")


def _idempotency(body: Mapping[str, Any], key: str | None) -> dict[str, str]:
    """The Idempotency-Key header of a send: the caller's, the body's, or a fresh one."""
    chosen = key if key is not None else body.get("idempotencyKey")
    return {"Idempotency-Key": str(chosen) if chosen is not None else uuid.uuid4().hex}


def _http_options(base_url: str, api_key: str, timeout: float) -> dict[str, Any]:
    return {
        "base_url": base_url.rstrip("/"),
        "headers": {"x-api-key": api_key, "user-agent": USER_AGENT},
        "timeout": timeout,
    }


class Client:
    """Blocking client; one httpx connection pool, closed by `close()` or the `with` block."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = 10.0,
        *,
        retries: int = RETRIES,
        backoff: float = BACKOFF_SECONDS,
        transport: httpx.BaseTransport | None = None,
        trust_env: bool = True,
    ) -> None:
        opts = _http_options(base_url, api_key, timeout)
        self._http = httpx.Client(transport=transport, trust_env=trust_env, **opts)
        self.retries = retries
        self.backoff = backoff

    def send(self, message: Mapping[str, Any], *, idempotency_key: str | None = None) -> Body:
        """POST /v1/messages → `{messageId, status, suppressedRecipients}` (202, or 200 replay)."""
        return self._send("/v1/messages", message, idempotency_key)

    def send_batch(self, batch: Mapping[str, Any], *, idempotency_key: str | None = None) -> Body:
        """POST /v1/messages/batch → `{batchId, count, suppressedRecipients}`."""
        return self._send("/v1/messages/batch", batch, idempotency_key)

    def _send(self, path: str, body: Mapping[str, Any], key: str | None) -> Body:
        headers = _idempotency(body, key)
        for attempt in range(self.retries + 1):
            try:
                return _body(self._http.post(path, json=body, headers=headers))
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
                time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def get(self, message_id: str) -> Body:
        """GET /v1/messages/{id}: the message with its `events`."""
        return _body(self._http.get(_id_path(message_id)))

    def list(self, **filters: Any) -> Iterator[Body]:
        """Every message matching the filters, following `nextCursor` across all pages.

        Filters: status, recipient, from_ / to (ISO dates or `date`s), category, tag, and
        limit (the page size, ≤ 200).
        """
        params = _list_params(filters)
        for _ in range(MAX_PAGES):
            page = _body(self._http.get("/v1/messages", params=params))
            yield from page.get("data", [])
            cursor = page.get("nextCursor")
            if not cursor or cursor == params.get("cursor"):
                return
            params["cursor"] = cursor

    def retry(self, message_id: str) -> Body:
        """POST /v1/messages/{id}/retry → `{messageId, status: "queued"}`; 409 if not failed."""
        return _body(self._http.post(_id_path(message_id, "retry")))

    def cancel(self, message_id: str) -> Body:
        """POST /v1/messages/{id}/cancel → `{messageId, status: "cancelled"}`."""
        return _body(self._http.post(_id_path(message_id, "cancel")))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClient:
    """The same methods as `Client`, as coroutines; `list` is an async iterator."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = 10.0,
        *,
        retries: int = RETRIES,
        backoff: float = BACKOFF_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
        trust_env: bool = True,
    ) -> None:
        opts = _http_options(base_url, api_key, timeout)
        self._http = httpx.AsyncClient(transport=transport, trust_env=trust_env, **opts)
        self.retries = retries
        self.backoff = backoff

    async def send(self, message: Mapping[str, Any], *, idempotency_key: str | None = None) -> Body:
        return await self._send("/v1/messages", message, idempotency_key)

    async def send_batch(
        self, batch: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Body:
        return await self._send("/v1/messages/batch", batch, idempotency_key)

    async def _send(self, path: str, body: Mapping[str, Any], key: str | None) -> Body:
        headers = _idempotency(body, key)
        for attempt in range(self.retries + 1):
            try:
                return _body(await self._http.post(path, json=body, headers=headers))
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
                await asyncio.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    async def get(self, message_id: str) -> Body:
        return _body(await self._http.get(_id_path(message_id)))

    async def list(self, **filters: Any) -> AsyncIterator[Body]:
        params = _list_params(filters)
        for _ in range(MAX_PAGES):
            page = _body(await self._http.get("/v1/messages", params=params))
            for item in page.get("data", []):
                yield item
            cursor = page.get("nextCursor")
            if not cursor or cursor == params.get("cursor"):
                return
            params["cursor"] = cursor

    async def retry(self, message_id: str) -> Body:
        return _body(await self._http.post(_id_path(message_id, "retry")))

    async def cancel(self, message_id: str) -> Body:
        return _body(await self._http.post(_id_path(message_id, "cancel")))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance: float = WEBHOOK_TOLERANCE_SECONDS,
    now: float | None = None,
) -> Body:
    """Check both signatures of one IEP webhook request and return its parsed JSON payload.

    `x-iep-signature` must be the HMAC-SHA256 of the raw body keyed with the whole secret, and
    the Standard Webhooks `webhook-signature` the HMAC of `id.timestamp.body` keyed with the
    base64 part of `whsec_…`, with `webhook-timestamp` within `tolerance` seconds of `now`
    (default: the current time) so a captured request cannot be replayed later.

    Raises:
        WebhookVerificationError: a header is missing, a signature or the timestamp is wrong,
            or the body is not a JSON object.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    lowered = {k.lower(): v for k, v in headers.items()}
    missing = [
        name
        for name in ("x-iep-signature", "webhook-id", "webhook-timestamp", "webhook-signature")
        if not lowered.get(name)
    ]
    if missing:
        raise WebhookVerificationError(f"missing header(s): {', '.join(missing)}")
    if not verify_iep_signature(secret, raw, lowered["x-iep-signature"]):
        raise WebhookVerificationError("x-iep-signature does not match")
    try:
        timestamp = int(lowered["webhook-timestamp"])
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not Unix seconds") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    try:
        expected = sign([secret], lowered["webhook-id"], timestamp, raw)["webhook-signature"]
    except ValueError as exc:
        raise WebhookVerificationError(str(exc)) from None
    # The header may carry several space-separated signatures (secret rotation).
    given = lowered["webhook-signature"].split()
    if not any(hmac.compare_digest(s.encode(), expected.encode()) for s in given):
        raise WebhookVerificationError("webhook-signature does not match")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise WebhookVerificationError("body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookVerificationError("body is not a JSON object")
    return payload
