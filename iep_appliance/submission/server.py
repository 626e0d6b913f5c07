"""The SMTP submission listeners: started and stopped by runtime.py, in its event loop.

Start: a TLS context when `tls_cert`/`tls_key` are set → the plain port (STARTTLS offered
when TLS is configured) → the implicit-TLS port when `tls_port` is set.
Stop: listeners closed (no new connections) → connections inside a durable accept get up
to `grace` seconds to commit and answer → every connection closed. A crash mid-DATA leaves
nothing: a message is stored only by the accepting transaction, and `250` follows it.
"""

import asyncio
import contextlib
import logging
import ssl
from typing import Any

from iep_appliance.clock import Clock
from iep_appliance.config import SubmissionConfig
from iep_appliance.logs import event
from iep_appliance.services.keys import KeyService
from iep_appliance.services.submissions import SubmissionService
from iep_appliance.submission.handler import SubmissionHandler, capture_credentials
from iep_appliance.submission.protocol import SubmissionProtocol

log = logging.getLogger("iep.submission")


def tls_context(cfg: SubmissionConfig) -> ssl.SSLContext | None:
    if not cfg.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    return context


class SubmissionServer:
    def __init__(
        self,
        cfg: SubmissionConfig,
        keys: KeyService,
        submissions: SubmissionService,
        clock: Clock,
        hostname: str,
    ) -> None:
        self.cfg = cfg
        self.hostname = hostname
        self.clock = clock
        self.handler = SubmissionHandler(keys, submissions, clock)
        self._servers: list[asyncio.Server] = []
        self.ports: dict[str, int] = {}

    def _protocol(self, tls: ssl.SSLContext | None) -> SubmissionProtocol:
        return SubmissionProtocol(
            self.handler,
            data_size_limit=self.cfg.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self.hostname,
            ident="IEP submission",
            tls_context=tls,
            auth_required=True,
            auth_require_tls=True,  # relaxed per connection for loopback (protocol.py)
            authenticator=capture_credentials,
            timeout=300,
        )

    async def start(self) -> None:
        # aiosmtpd logs every command at INFO; ours are the structured submission.* lines.
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        loop = asyncio.get_running_loop()
        tls = tls_context(self.cfg)
        try:
            plain = await loop.create_server(
                lambda: self._protocol(tls), self.cfg.host, self.cfg.port, backlog=1024
            )
            self._servers.append(plain)
            self.ports["plain"] = plain.sockets[0].getsockname()[1]
            if self.cfg.tls_port and tls is not None:
                secure = await loop.create_server(
                    lambda: self._protocol(None), self.cfg.host, self.cfg.tls_port, ssl=tls
                )
                self._servers.append(secure)
                self.ports["tls"] = secure.sockets[0].getsockname()[1]
        except BaseException:
            await self.stop(0)
            raise
        event(
            log,
            "submission.started",
            host=self.cfg.host,
            port=self.ports.get("plain"),
            tlsPort=self.ports.get("tls"),
            starttls=tls is not None,
        )

    async def stop(self, grace: float = 5.0) -> None:
        for server in self._servers:
            server.close()
        if self.handler.in_flight:  # an accept is one group commit away from its answer
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.handler.idle.wait(), grace)
        for connection in list(self.handler.connections):
            transport: Any = connection.transport
            if transport is not None:
                transport.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
