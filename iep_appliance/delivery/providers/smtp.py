"""The `smtp` provider: a pool of reused connections to one relay.

aiosmtplib opens each connection (TLS or STARTTLS, EHLO, AUTH); smtp_wire.SmtpWire then runs
its transactions, pipelined (RFC 2920) when the relay offers PIPELINING: MAIL, one RCPT per
recipient (a refused one is recorded, the others go on), DATA. A failed transaction is
followed by RSET so the connection can be reused; a broken one is closed and the next send
connects afresh. A per-provider rate limit (`max_per_second`) spaces transactions. Failures
become SendOutcome values, never raises.
"""

import asyncio
import socket
import ssl

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPConnectError,
    SMTPException,
    SMTPHeloError,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from iep_appliance.config_providers import SmtpProviderConfig
from iep_appliance.delivery.providers.base import Envelope
from iep_appliance.delivery.providers.pacer import Pacer
from iep_appliance.delivery.providers.smtp_wire import SmtpWire, enhanced, transaction
from iep_appliance.domain.hostnames import name_for, own_hostname
from iep_appliance.domain.outcomes import SendOutcome, Stage


class SmtpProvider:
    kind = "smtp"

    def __init__(self, name: str, cfg: SmtpProviderConfig, hostname: str = "") -> None:
        self.name = name
        self.cfg = cfg
        self._hostname = hostname  # `[delivery] hostname`; "" = the FQDN, or the sender's domain
        self._idle: list[SmtpWire] = []
        self._slots = asyncio.Semaphore(cfg.connections)
        self._pacer = Pacer(cfg.max_per_second)
        self._local_hostname: str | None = None

    # ---- connections -----------------------------------------------------------------------

    async def _connect(self, sender: str = "") -> SmtpWire:
        """A connection that says EHLO with our name (or `sender`'s domain: hostnames.py)."""
        cfg = self.cfg
        if self._local_hostname is None:
            # Once per provider: aiosmtplib would otherwise look the name up per connection.
            fqdn = "" if self._hostname else await asyncio.to_thread(socket.getfqdn)
            self._local_hostname = own_hostname(self._hostname, fqdn)
        client = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            timeout=cfg.timeout_seconds,
            use_tls=cfg.security == "tls",
            start_tls=cfg.security == "starttls",
            validate_certs=True,
            tls_context=ssl.create_default_context() if cfg.security != "none" else None,
            local_hostname=name_for(self._local_hostname, sender),
        )
        await client.connect()
        try:
            if client.is_ehlo_or_helo_needed:
                try:
                    await client.ehlo()
                except SMTPHeloError:
                    await client.helo()
            if cfg.username:
                await client.login(cfg.username, cfg.password)
        except BaseException:
            client.close()
            raise
        transport = client.transport
        if transport is None or transport.is_closing():
            raise SMTPServerDisconnected("connection closed during the handshake")
        extensions = frozenset(client.esmtp_extensions)
        return SmtpWire.adopt(transport, extensions, cfg.timeout_seconds)

    async def _checkout(self, reuse: bool = True, sender: str = "") -> tuple[SmtpWire, bool]:
        """A connection and whether it came from the pool."""
        while reuse and self._idle:
            wire = self._idle.pop()
            if wire.is_connected:
                return wire, True
            wire.close()
        return await self._connect(sender), False

    def _checkin(self, wire: SmtpWire, reusable: bool) -> None:
        if reusable and wire.is_connected:
            self._idle.append(wire)
        else:
            wire.close()

    # ---- send ------------------------------------------------------------------------------

    async def send(self, envelope: Envelope, mime: bytes) -> SendOutcome:
        await self._pacer.wait()
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
            wire, reused = await self._checkout(reuse, envelope.mail_from)
        except SMTPAuthenticationError as exc:
            return self._reply_outcome("auth", exc), False
        except (SMTPConnectError, SMTPTimeoutError, SMTPServerDisconnected, OSError) as exc:
            return self._network("connect", exc), False
        except SMTPResponseException as exc:
            return self._reply_outcome("connect", exc), False
        except SMTPException as exc:
            return self._network("connect", exc), False
        try:
            result = await transaction(
                wire, self.name, envelope.mail_from, tuple(envelope.rcpt_to), mime
            )
        except BaseException:
            wire.close()
            raise
        self._checkin(wire, result.reusable)
        outcome = result.outcome
        stale = result.at == "mail" and (outcome.stage == "network" or outcome.code == 421)
        return outcome, reused and stale

    def _reply_outcome(self, stage: Stage, exc: SMTPResponseException) -> SendOutcome:
        code, text = enhanced(exc.message)
        return SendOutcome(
            provider=self.name, code=exc.code, enhanced_code=code, message=text, stage=stage
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
            wire = await self._connect()
        except (SMTPException, OSError):
            return False
        self._checkin(wire, True)
        return True

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for wire in idle:
            try:
                await asyncio.wait_for(wire.quit(), timeout=2)
            except (OSError, TimeoutError):
                wire.close()
