"""What each SMTP command means for IEP: the aiosmtpd handler of the submission server.

    EHLO  → extensions (SIZE, 8BITMIME, SMTPUTF8, PIPELINING, ENHANCEDSTATUSCODES,
            STARTTLS when configured, AUTH PLAIN LOGIN where allowed)
    AUTH  → the password is an API key with `send` (any username); failures are slowed
            per client address and logged, never with the key
    MAIL  → the key is checked again (expiry, revocation); its tenant must own the domain
    RCPT  → address syntax; at most MAX_RECIPIENTS per message (452 4.5.3)
    DATA  → services.submissions.accept: the pipeline of POST /v1/messages; `250` only
            after the commit, with the message id

Every rejection is a reply with an RFC 3463 enhanced code, mapped here from the same domain
errors the HTTP API maps to problem details (api/problems.py), and nothing is stored.
"""

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from iep_appliance.clock import Clock
from iep_appliance.domain.errors import (
    Conflict,
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
from iep_appliance.domain.validation import MAX_RECIPIENTS, normalize_address
from iep_appliance.logs import event
from iep_appliance.services.keys import KeyService
from iep_appliance.services.submissions import Origin, SubmissionService
from iep_appliance.submission.protocol import SubmissionProtocol

log = logging.getLogger("iep.submission")

MAX_AUTH_FAILURES_PER_CONNECTION = 10
FAILURE_MEMORY_SECONDS = 900.0


class AuthThrottle:
    """Failed AUTH per client address: the second failure waits 0.5 s, each further one
    twice as long, up to 8 s; forgotten after 15 minutes without a failure."""

    def __init__(self) -> None:
        self._failures: dict[str, tuple[int, float]] = {}

    def failed(self, client: str, now: float) -> tuple[int, float]:
        """(failures so far, seconds to wait before answering this one)."""
        count, last = self._failures.get(client, (0, now))
        if now - last > FAILURE_MEMORY_SECONDS:
            count = 0
        count += 1
        self._failures[client] = (count, now)
        if len(self._failures) > 10_000:  # bounded: forget the oldest
            self._failures.pop(next(iter(self._failures)))
        return count, (0.0 if count < 2 else min(8.0, 0.5 * 2 ** (count - 2)))

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


def capture_credentials(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    """aiosmtpd's authenticator is synchronous; this one only hands the parsed credentials
    to `SubmissionHandler.verify`, which checks the key without blocking the loop."""
    server.credentials = auth_data  # type: ignore[attr-defined]
    return AuthResult(success=False, handled=True)


def reply_for(exc: Exception) -> str:
    """The SMTP reply for a rejected submission (the twin of api/problems.py)."""
    if isinstance(exc, RateLimited):
        return f"452 4.7.1 Rate limit exceeded; try again in {exc.retry_after} seconds"
    if isinstance(exc, PayloadTooLarge):
        return "552 5.3.4 " + _fields(exc.errors)
    if isinstance(exc, SenderNotAllowed):
        return f"554 5.7.1 {exc.detail}"
    if isinstance(exc, ValidationFailed):
        if any(e.path == "smtputf8" for e in exc.errors):
            return "554 5.6.7 " + _fields(exc.errors)
        if any(e.path.startswith("attachments") for e in exc.errors):
            return "554 5.7.1 " + _fields(exc.errors)
        return "554 5.6.0 " + _fields(exc.errors)
    if isinstance(exc, Unauthorized):
        return f"535 5.7.8 {exc.detail}"
    if isinstance(exc, Forbidden | NotFound):
        return f"554 5.7.1 {exc.detail}"
    if isinstance(exc, Conflict):
        return f"554 5.7.0 {exc.detail}"
    if isinstance(exc, IEPError):
        return f"451 4.3.0 {exc.detail}"
    return "451 4.3.0 Temporary failure; nothing was stored, try again"


def _fields(errors: list[Any]) -> str:
    return "; ".join(f"{e.path}: {e.message}" for e in errors)[:400]


class SubmissionHandler:
    def __init__(
        self,
        keys: KeyService,
        submissions: SubmissionService,
        clock: Clock,
    ) -> None:
        self.keys = keys
        self.submissions = submissions
        self.clock = clock
        self.throttle = AuthThrottle()
        self.connections: set[SubmissionProtocol] = set()
        self.in_flight = 0  # DATA accepts not answered yet; `idle` is set when none
        self.idle = asyncio.Event()
        self.idle.set()

    # ---- connections (the server waits for in-flight accepts at stop) --------------------------

    def opened(self, server: SubmissionProtocol) -> None:
        self.connections.add(server)

    def closed(self, server: SubmissionProtocol) -> None:
        self.connections.discard(server)

    # ---- EHLO -----------------------------------------------------------------------------------

    async def handle_EHLO(
        self,
        server: SubmissionProtocol,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", "250-ENHANCEDSTATUSCODES", responses[-1]]

    # ---- AUTH -----------------------------------------------------------------------------------

    async def auth_PLAIN(self, server: SubmissionProtocol, args: list[str]) -> AuthResult:
        server.credentials = None  # type: ignore[attr-defined]
        parsed = await SMTP.auth_PLAIN(server, None, args)
        return await self._verify(server, "PLAIN", parsed)

    async def auth_LOGIN(self, server: SubmissionProtocol, args: list[str]) -> AuthResult:
        server.credentials = None  # type: ignore[attr-defined]
        parsed = await SMTP.auth_LOGIN(server, None, args)
        return await self._verify(server, "LOGIN", parsed)

    async def _verify(
        self, server: SubmissionProtocol, mechanism: str, parsed: AuthResult
    ) -> AuthResult:
        credentials: LoginPassword | None = getattr(server, "credentials", None)
        server.credentials = None  # type: ignore[attr-defined]
        if credentials is None:
            return parsed  # a malformed exchange, already answered by aiosmtpd
        client = server.client
        key = credentials.password.decode("utf-8", "replace").strip()
        try:
            principal = await self.keys.authenticate(key)
            KeyService.require(principal, "send")
        except (Unauthorized, Forbidden) as exc:
            return await self._refuse(server, client, mechanism, exc.detail)
        self.throttle.succeeded(client)
        server.presented_key = key
        server.auth_user = credentials.login.decode("utf-8", "replace")[:200]
        event(log, "submission.authenticated", client=client, tenant_id=principal.tenant_id)
        return AuthResult(success=True, auth_data=server.auth_user)

    async def _refuse(
        self, server: SubmissionProtocol, client: str, mechanism: str, reason: str
    ) -> AuthResult:
        failures, delay = self.throttle.failed(client, self.clock.monotonic())
        event(
            log,
            "submission.auth_failed",
            client=client,
            mechanism=mechanism,
            reason=reason,
            failures=failures,
            delaySeconds=delay,
        )
        await self.clock.sleep(delay)  # slows guessing; other connections are not held up
        server.auth_failures = getattr(server, "auth_failures", 0) + 1  # type: ignore[attr-defined]
        if server.auth_failures >= MAX_AUTH_FAILURES_PER_CONNECTION:  # type: ignore[attr-defined]
            await server.push("421 4.7.0 Too many failed AUTH attempts; closing")
            if server.transport is not None:
                server.transport.close()
            return AuthResult(success=False, handled=True)
        return AuthResult(
            success=False, handled=False, message=f"535 5.7.8 Authentication failed: {reason}"
        )

    async def _principal(self, server: SubmissionProtocol) -> Principal:
        """The key of this connection checked again: it may have expired or been revoked."""
        principal = await self.keys.authenticate(server.presented_key)
        KeyService.require(principal, "send")
        return principal

    # ---- MAIL, RCPT -----------------------------------------------------------------------------

    async def handle_MAIL(
        self,
        server: SubmissionProtocol,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        normalized, refusal = _envelope_address(address, envelope, "553 5.1.7 Bad sender")
        if refusal:
            return refusal
        try:
            principal = await self._principal(server)
            await self.submissions.check_sender(principal, normalized)
        except IEPError as exc:
            return reply_for(exc)
        server.principal = principal  # for this message's DATA, a few ms away
        envelope.mail_from = normalized
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self,
        server: SubmissionProtocol,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return f"452 4.5.3 Too many recipients (at most {MAX_RECIPIENTS} per message)"
        normalized, refusal = _envelope_address(address, envelope, "553 5.1.3 Bad recipient")
        if refusal:
            return refusal
        envelope.rcpt_tos.append(normalized)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    # ---- DATA -----------------------------------------------------------------------------------

    async def handle_DATA(
        self, server: SubmissionProtocol, session: Session, envelope: Envelope
    ) -> str:
        client = server.client
        self.in_flight += 1
        self.idle.clear()
        try:
            principal = server.principal or await self._principal(server)
            content = envelope.content
            assert isinstance(content, bytes)
            result = await self.submissions.accept(
                principal,
                content,
                envelope.rcpt_tos,
                smtputf8=envelope.smtp_utf8,
                origin=Origin("smtp", client=client, user=server.auth_user),
            )
        except IEPError as exc:
            reply = reply_for(exc)
            event(log, "submission.rejected", client=client, reply=reply[:200])
            return reply
        except Exception:
            log.exception("submission.failed", extra={"fields": {"client": client}})
            return reply_for(RuntimeError())
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self.idle.set()
        event(log, "submission.accepted", message_id=result.message_id, client=client)
        return f"250 2.0.0 Ok: queued as {result.message_id}"


def _envelope_address(address: str, envelope: Envelope, bad: str) -> tuple[str, str]:
    """(the normalized address, "") of MAIL FROM or RCPT TO, or ("", the refusal)."""
    if not address.isascii() and not envelope.smtp_utf8:
        return "", "553 5.6.7 A non-ASCII address needs the SMTPUTF8 parameter"
    try:
        return normalize_address(address), ""
    except ValueError as exc:
        return "", f"{bad} address: {exc}"
