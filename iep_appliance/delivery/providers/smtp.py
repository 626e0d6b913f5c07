"""The `smtp` provider: a pool of reused aiosmtplib connections to one relay.

One transaction is MAIL, one RCPT per recipient (a refused one is recorded, the others
go on), DATA. A failed transaction is followed by RSET so the connection can be reused;
a network error closes it and the next send reconnects. A per-provider rate limit
(`max_per_second`) spaces transactions. Failures become SendOutcome values, never raises.
"""

import asyncio
import ssl
import time

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPConnectError,
    SMTPException,
    SMTPRecipientRefused,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from iep_appliance.config import ProviderConfig
from iep_appliance.delivery.providers.base import Envelope
from iep_appliance.domain.outcomes import RecipientRejection, SendOutcome, Stage


def _enhanced(message: str) -> tuple[str | None, str]:
    head, _, rest = message.partition(" ")
    if head.count(".") == 2 and head.replace(".", "").isdigit():
        return head, rest
    return None, message


class _Failed(Exception):
    def __init__(self, outcome: SendOutcome, reusable: bool, at: str) -> None:
        self.outcome = outcome
        self.reusable = reusable
        self.at = at  # the SMTP step that failed: mail, rcpt or data


class SmtpProvider:
    kind = "smtp"

    def __init__(self, name: str, cfg: ProviderConfig) -> None:
        self.name = name
        self.cfg = cfg
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(cfg.connections)
        self._interval = 1.0 / cfg.max_per_second if cfg.max_per_second > 0 else 0.0
        self._next_slot = 0.0
        self._rate_lock = asyncio.Lock()

    # ---- connections -----------------------------------------------------------------------

    async def _connect(self) -> aiosmtplib.SMTP:
        cfg = self.cfg
        client = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            timeout=cfg.timeout_seconds,
            use_tls=cfg.security == "tls",
            start_tls=cfg.security == "starttls",
            validate_certs=True,
            tls_context=ssl.create_default_context() if cfg.security != "none" else None,
        )
        await client.connect()
        if cfg.username:
            await client.login(cfg.username, cfg.password)
        return client

    async def _checkout(self, reuse: bool = True) -> tuple[aiosmtplib.SMTP, bool]:
        """A connection and whether it came from the pool."""
        while reuse and self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client, True
            client.close()
        return await self._connect(), False

    def _checkin(self, client: aiosmtplib.SMTP, reusable: bool) -> None:
        if reusable and client.is_connected:
            self._idle.append(client)
        else:
            client.close()

    async def _pace(self) -> None:
        if not self._interval:
            return
        async with self._rate_lock:
            now = time.monotonic()
            wait = self._next_slot - now
            self._next_slot = max(now, self._next_slot) + self._interval
        if wait > 0:
            await asyncio.sleep(wait)

    # ---- send ------------------------------------------------------------------------------

    async def send(self, envelope: Envelope, mime: bytes) -> SendOutcome:
        await self._pace()
        async with self._slots:
            outcome, retry_fresh = await self._attempt(envelope, mime, reuse=True)
            if retry_fresh:
                # A pooled connection the relay had already given up on (closed, or a 421 at
                # MAIL): nothing of this message was transferred, so one fresh try is safe.
                outcome, _ = await self._attempt(envelope, mime, reuse=False)
            return outcome

    async def _attempt(
        self, envelope: Envelope, mime: bytes, reuse: bool
    ) -> tuple[SendOutcome, bool]:
        """One transaction; (outcome, whether a stale pooled connection is worth a fresh try)."""
        try:
            client, reused = await self._checkout(reuse)
        except SMTPAuthenticationError as exc:
            return self._reply_outcome("auth", exc), False
        except (SMTPConnectError, SMTPTimeoutError, SMTPServerDisconnected, OSError) as exc:
            return self._network("connect", exc), False
        except SMTPResponseException as exc:
            return self._reply_outcome("connect", exc), False
        except SMTPException as exc:
            return self._network("connect", exc), False
        try:
            outcome = await self._transaction(client, envelope, mime)
        except _Failed as failed:
            reusable = failed.reusable and await self._reset(client)
            self._checkin(client, reusable)
            stale = failed.at == "mail" and (
                failed.outcome.stage == "network" or failed.outcome.code == 421
            )
            return failed.outcome, reused and stale
        except asyncio.CancelledError:
            client.close()
            raise
        self._checkin(client, True)
        return outcome, False

    async def _transaction(
        self, client: aiosmtplib.SMTP, envelope: Envelope, mime: bytes
    ) -> SendOutcome:
        stage: Stage = "mail"
        try:
            await client.mail(envelope.mail_from)
            stage = "rcpt"
            accepted: list[str] = []
            rejected: list[RecipientRejection] = []
            for rcpt in envelope.rcpt_to:
                try:
                    await client.rcpt(rcpt)
                    accepted.append(rcpt)
                except SMTPRecipientRefused as exc:
                    rejected.append(RecipientRejection(rcpt, exc.code, exc.message))
            if not accepted:
                raise _Failed(
                    SendOutcome(provider=self.name, rejected=tuple(rejected), stage="rcpt"),
                    reusable=True,
                    at=stage,
                )
            stage = "data"
            response = await client.data(mime)
        except _Failed:
            raise
        except (SMTPServerDisconnected, SMTPTimeoutError, OSError) as exc:
            raise _Failed(self._network(stage, exc), reusable=False, at=stage) from None
        except SMTPResponseException as exc:
            raise _Failed(self._reply_outcome(stage, exc), reusable=True, at=stage) from None
        except SMTPException as exc:
            raise _Failed(self._network(stage, exc), reusable=False, at=stage) from None
        enhanced, text = _enhanced(response.message)
        return SendOutcome(
            provider=self.name,
            accepted=tuple(accepted),
            rejected=tuple(rejected),
            code=response.code,
            enhanced_code=enhanced,
            message=text,
            provider_message_id=text[:200] or None,
        )

    async def _reset(self, client: aiosmtplib.SMTP) -> bool:
        try:
            await client.rset()
            return True
        except (SMTPException, OSError):
            return False

    def _reply_outcome(self, stage: Stage, exc: SMTPResponseException) -> SendOutcome:
        enhanced, text = _enhanced(exc.message)
        return SendOutcome(
            provider=self.name, code=exc.code, enhanced_code=enhanced, message=text, stage=stage
        )

    def _network(self, stage: str, exc: BaseException) -> SendOutcome:
        kind: Stage = "timeout" if isinstance(exc, SMTPTimeoutError | TimeoutError) else "network"
        detail = str(exc) or type(exc).__name__
        return SendOutcome(
            provider=self.name, stage=kind, network_error=f"{detail} (during {stage})"
        )

    async def check_health(self) -> bool:
        if any(c.is_connected for c in self._idle):
            return True
        try:
            client = await self._connect()
        except (SMTPException, OSError):
            return False
        self._checkin(client, True)
        return True

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await asyncio.wait_for(client.quit(), timeout=2)
            except (SMTPException, OSError, TimeoutError):
                client.close()
