"""The inbound SMTP listener (`[inbound]`, DESIGN §10.3): aiosmtpd on the appliance's own event
loop, taking mail only for the addresses `accepts(address)` allows (VERP bounces, fbl@,
unsubscribe+) and refusing every other RCPT with 550.

Started and stopped by Runtime. After DATA, each recipient's copy goes to `receive(mail_from,
rcpt, data)`; `250` means it is committed, a failure to record answers `451` so the sending
MTA retries. aiosmtpd enforces `max_message_bytes` (552 past it).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from iep_appliance.config import InboundConfig

log = logging.getLogger("iep.inbound")


class _Handler:
    def __init__(
        self,
        accepts: Callable[[str], bool],
        receive: Callable[[str, str, bytes], Awaitable[int]],
    ) -> None:
        self.accepts = accepts
        self.receive = receive

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not self.accepts(address):
            return "550 5.1.1 No such recipient here"
        if len(envelope.rcpt_tos) >= 10:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content or b""
        raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")
        mail_from = envelope.mail_from or ""
        try:
            for rcpt in envelope.rcpt_tos:
                await self.receive(mail_from, rcpt, raw)
        except Exception:
            log.exception("inbound.record_failed", extra={"fields": {"size": len(raw)}})
            return "451 4.3.0 Could not record the message; try again later"
        return "250 OK"


class InboundListener:
    def __init__(
        self,
        cfg: InboundConfig,
        accepts: Callable[[str], bool],
        receive: Callable[[str, str, bytes], Awaitable[int]],
        hostname: str,
    ) -> None:
        self.cfg = cfg
        self.handler = _Handler(accepts, receive)
        self.hostname = hostname
        self.server: asyncio.base_events.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def _protocol(self) -> Any:
        return SMTP(
            self.handler,
            hostname=self.hostname,
            data_size_limit=self.cfg.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            ident="IEP inbound",
        )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._protocol, self.cfg.host, self.cfg.port)
        log.info(
            "inbound.listening",
            extra={"fields": {"host": self.cfg.host, "port": self.port}},
        )

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
