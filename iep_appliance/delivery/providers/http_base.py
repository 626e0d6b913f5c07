"""What the HTTP-API providers (`ses`, `sendgrid`, `mailgun`) share: a pooled HTTP/1.1
keep-alive client (httpx), timeouts, a send-rate limit, and HTTP answer → SendOutcome.

An answer becomes facts, never a judgement (`domain.retry.classify` judges): 2xx → handed over
(with the provider's message id when the answer names one); any other status → stage "http"
with its code, the provider's error text and `Retry-After` (seconds or an HTTP date); a timeout
→ stage "timeout"; a refused or dropped connection → stage "network". So 429/5xx/timeouts are
transient and other 4xx permanent, and only the connection/timeout/429/5xx kinds count against
the breaker (`domain.breaker.health_failure`). A body that is not JSON is read as text.

`probe()` is `POST /v1/providers/{id}/test`: one API call that sends nothing, and which step
failed ("connect", "auth", "api").
"""

import email.utils
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec

from iep_appliance.delivery.providers.base import Envelope
from iep_appliance.delivery.providers.pacer import Pacer
from iep_appliance.domain.outcomes import SendOutcome

MAX_ERROR_TEXT = 300


class ProbeResult(msgspec.Struct, frozen=True):
    """What `POST /v1/providers/{id}/test` reports: ok, else the step that failed and why."""

    ok: bool
    step: str = ""  # "connect" | "ehlo" | "auth" | "api" | "" when ok
    detail: str = ""


def make_client(timeout_seconds: float, connections: int) -> httpx.AsyncClient:
    """One provider's pool: HTTP/1.1, kept-alive connections, every step under the timeout."""
    return httpx.AsyncClient(
        http1=True,
        http2=False,
        timeout=httpx.Timeout(timeout_seconds),
        limits=httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=60,
        ),
        follow_redirects=False,
        trust_env=False,
    )


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` in seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


def json_or_none(response: httpx.Response) -> Any:
    try:
        return msgspec.json.decode(response.content) if response.content else None
    except msgspec.DecodeError:
        return None


def error_text(response: httpx.Response, body: Any) -> str:
    """The provider's own words for a refusal: SES `message`, SendGrid `errors[].message`,
    Mailgun `message`; a body that is not JSON as (bounded) text."""
    text = ""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            parts = []
            for e in errors[:5]:
                if isinstance(e, dict):
                    field = e.get("field")
                    msg = str(e.get("message", ""))
                    parts.append(f"{field}: {msg}" if field else msg)
            text = "; ".join(p for p in parts if p)
        text = text or str(body.get("message") or body.get("Message") or "")
    elif response.content:
        text = response.content[:MAX_ERROR_TEXT].decode("utf-8", "replace").strip()
        if text and "json" in response.headers.get("content-type", ""):
            text = f"unreadable JSON: {text}"
    text = " ".join(text.split())
    return (text or response.reason_phrase or "no reason given")[:MAX_ERROR_TEXT]


class HttpProvider:
    """Base of one HTTP-API provider; subclasses build the request and read the message id."""

    kind = "http"

    def __init__(self, name: str, cfg: Any, client: httpx.AsyncClient | None = None) -> None:
        self.name = name
        self.cfg = cfg
        self._client = client or make_client(cfg.timeout_seconds, cfg.connections)
        self._pacer = Pacer(cfg.max_per_second)

    # ---- what a subclass says --------------------------------------------------------------

    def request(self, envelope: Envelope, mime: bytes) -> httpx.Request:
        raise NotImplementedError

    def message_id(self, response: httpx.Response, body: Any) -> str | None:
        raise NotImplementedError

    def probe_requests(self) -> list[httpx.Request]:
        """API calls that send nothing, in order: a 404 (an endpoint that does not implement the
        first, e.g. moto and SES `GetAccount`) moves on to the next."""
        raise NotImplementedError

    # ---- send -------------------------------------------------------------------------------

    async def send(self, envelope: Envelope, mime: bytes) -> SendOutcome:
        await self._pacer.wait()
        try:
            req = self.request(envelope, mime)
        except (ValueError, LookupError, UnicodeError) as exc:  # MIME the API cannot take
            # (no From, an unknown charset, …): this message's fault, never the provider's
            return SendOutcome(
                provider=self.name, stage="http", code=400, message=f"not sent: {exc}"
            )
        try:
            response = await self._client.send(req)
        except httpx.TimeoutException as exc:
            return self._network("timeout", exc)
        except (httpx.TransportError, OSError) as exc:
            return self._network("network", exc)
        return self.outcome(envelope, response)

    def outcome(self, envelope: Envelope, response: httpx.Response) -> SendOutcome:
        body = json_or_none(response)
        status = response.status_code
        if 200 <= status < 300:
            return SendOutcome(
                provider=self.name,
                accepted=envelope.rcpt_to,
                code=status,
                message="accepted"
                if body is not None or not response.content
                else "accepted (answer not JSON)",
                provider_message_id=self.message_id(response, body),
            )
        return SendOutcome(
            provider=self.name,
            stage="http",
            code=status,
            message=error_text(response, body),
            retry_after=retry_after(response.headers.get("retry-after")),
        )

    def _network(self, stage: str, exc: BaseException) -> SendOutcome:
        detail = str(exc) or type(exc).__name__
        return SendOutcome(
            provider=self.name,
            stage="timeout" if stage == "timeout" else "network",
            network_error=f"{detail} (during HTTP request)",
        )

    # ---- health and test --------------------------------------------------------------------

    async def probe(self) -> ProbeResult:
        """One API call that sends nothing; which step failed, if one did."""
        result = ProbeResult(False, "api", "no test call")
        try:
            requests = self.probe_requests()
        except ValueError as exc:
            return ProbeResult(False, "connect", str(exc))
        for req in requests:
            try:
                response = await self._client.send(req)
            except httpx.TimeoutException as exc:
                return ProbeResult(False, "connect", f"timed out: {exc or 'no answer'}")
            except (httpx.TransportError, OSError) as exc:
                return ProbeResult(False, "connect", str(exc) or type(exc).__name__)
            if 200 <= response.status_code < 300:
                return ProbeResult(True)
            text = f"{response.status_code} {error_text(response, json_or_none(response))}"
            step = "auth" if response.status_code in (401, 403) else "api"
            result = ProbeResult(False, step, text)
            if response.status_code != 404:
                break
        return result

    async def check_health(self) -> bool:
        return (await self.probe()).ok

    async def aclose(self) -> None:
        await self._client.aclose()
