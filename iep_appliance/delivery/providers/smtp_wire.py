"""One SMTP connection after the handshake: transactions, pipelined when the relay offers it.

aiosmtplib opens the connection (TLS, STARTTLS, EHLO, AUTH); `SmtpWire.adopt` then takes its
transport over. aiosmtplib reads one reply per command written, which makes every command a
round trip and several awaits; with PIPELINING (RFC 2920) one write carries MAIL, every RCPT
and DATA, and one read collects their replies, so a transaction costs two round trips
whatever the number of recipients. Replies are parsed as they arrive into a queue, so no
reply is lost however the relay's packets split them. A relay without PIPELINING gets the
same commands one at a time.

`transaction` reports facts (`SendOutcome`) and whether the connection may be reused; it
raises nothing for anything the relay does.
"""

import asyncio
import contextlib
import re
from collections import deque
from collections.abc import Awaitable
from typing import NamedTuple

from iep_appliance.domain.outcomes import RecipientRejection, SendOutcome, Stage

_LINE_ENDINGS = re.compile(rb"\r\n|\n|\r(?!\n)")
_LEADING_DOT = re.compile(rb"(?m)^\.")
_MAX_REPLY = 64 * 1024


class Reply(NamedTuple):
    code: int
    text: str


class WireClosed(ConnectionError):
    """The relay closed the connection (or it broke) before all expected replies came."""


def enhanced(text: str) -> tuple[str | None, str]:
    """Split "5.1.1 no such user" into ("5.1.1", "no such user")."""
    head, _, rest = text.partition(" ")
    if head.count(".") == 2 and head.replace(".", "").isdigit():
        return head, rest
    return None, text


def dot_stuffed(mime: bytes) -> bytes:
    """The DATA payload: CRLF line ends, leading dots doubled, the terminating dot line."""
    crlf = mime.count(b"\r\n")
    if mime.count(b"\n") != crlf or mime.count(b"\r") != crlf:
        mime = _LINE_ENDINGS.sub(b"\r\n", mime)
    if not mime.endswith(b"\r\n"):
        mime += b"\r\n"
    if mime.startswith(b".") or b"\n." in mime:
        mime = _LEADING_DOT.sub(b"..", mime)
    return mime + b".\r\n"


class SmtpWire(asyncio.Protocol):
    """The protocol of one adopted connection; one transaction at a time (the pool sees to it)."""

    def __init__(self, extensions: frozenset[str], timeout: float) -> None:
        self.extensions = extensions
        self.timeout = timeout
        self.transport: asyncio.WriteTransport | None = None
        self._buffer = bytearray()
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._wanted = 0
        self._closed: BaseException | None = None

    @classmethod
    def adopt(
        cls, transport: asyncio.BaseTransport, extensions: frozenset[str], timeout: float
    ) -> "SmtpWire":
        wire = cls(extensions, timeout)
        transport.set_protocol(wire)
        wire.transport = transport  # type: ignore[assignment]
        return wire

    # ---- asyncio.Protocol ---------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        lines: list[bytes] = []
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = bytes(buffer[start:end]).rstrip(b"\r")
            start = end + 1
            lines.append(line)
            if line[3:4] == b"-":  # a continuation line of a multi-line reply
                continue
            try:
                code = int(line[:3])
            except ValueError:
                self._fail(WireClosed(f"malformed reply from the relay: {line[:80]!r}"))
                return
            text = "\n".join(part[4:].decode("utf-8", "replace").strip() for part in lines)
            self._replies.append(Reply(code, text))
            lines = []
            del buffer[:start]
            start = 0
        if len(buffer) > _MAX_REPLY:
            self._fail(WireClosed("reply from the relay too long"))
            return
        waiter = self._waiter
        if waiter is not None and len(self._replies) >= self._wanted and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> bool:
        self._fail(WireClosed("connection closed by the relay"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or WireClosed("connection closed by the relay"))

    def _fail(self, exc: BaseException) -> None:
        if self._closed is None:
            self._closed = exc
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # ---- I/O ------------------------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        return (
            self._closed is None
            and self.transport is not None
            and not (self.transport.is_closing())
        )

    def write(self, data: bytes) -> None:
        if not self.is_connected:
            raise WireClosed("connection closed by the relay")
        assert self.transport is not None
        self.transport.write(data)

    async def exchange(self, data: bytes, count: int) -> list[Reply]:
        """Write `data`, then read the next `count` replies (see `read`)."""
        self.write(data)
        return await self.read(count)

    async def read(self, count: int) -> list[Reply]:
        """The next `count` replies; fewer only if the connection closed (then `closed_by`).

        Raises TimeoutError when the relay stays silent for the timeout."""
        if len(self._replies) < count and self._closed is None:
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            self._wanted = count
            handle = loop.call_later(self.timeout, _expire, waiter)
            try:
                await waiter
            finally:
                handle.cancel()
                self._waiter = None
        replies = self._replies
        return [replies.popleft() for _ in range(min(count, len(replies)))]

    @property
    def closed_by(self) -> BaseException | None:
        return self._closed

    def close(self) -> None:
        self._fail(WireClosed("closed"))

    async def quit(self) -> None:
        if self.is_connected:
            self.write(b"QUIT\r\n")
            with contextlib.suppress(TimeoutError):
                await self.read(1)
        self.close()

    async def reset(self) -> bool:
        """RSET after a failed transaction; whether the connection is still usable."""
        try:
            replies = await self.exchange(b"RSET\r\n", 1)
        except (WireClosed, TimeoutError):
            return False
        return bool(replies) and replies[0].code == 250


def _expire(waiter: "asyncio.Future[None]") -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class Result(NamedTuple):
    outcome: SendOutcome
    reusable: bool  # the connection is in a clean state (after RSET if it failed)
    at: Stage  # the step the transaction reached: mail, rcpt or data


async def transaction(
    wire: SmtpWire, provider: str, mail_from: str, rcpt_to: tuple[str, ...], mime: bytes
) -> Result:
    """MAIL, RCPT per recipient, DATA, content: the outcome, and the connection's state."""
    utf8 = not (mail_from.isascii() and all(r.isascii() for r in rcpt_to))
    if utf8 and "smtputf8" not in wire.extensions:
        outcome = SendOutcome(
            provider=provider,
            code=553,
            enhanced_code="5.6.7",
            message="an address is not ASCII and the relay does not offer SMTPUTF8",
            stage="mail",
        )
        return Result(outcome, True, "mail")
    mail = b"MAIL FROM:<" + mail_from.encode() + (b"> SMTPUTF8\r\n" if utf8 else b">\r\n")
    commands = [mail, *(b"RCPT TO:<" + r.encode() + b">\r\n" for r in rcpt_to), b"DATA\r\n"]
    if any(b"\r" in c[:-2] or b"\n" in c[:-2] for c in commands):
        raise ValueError("an address contains a line break")  # validation never lets one by

    if "pipelining" in wire.extensions:
        exchange = wire.exchange(b"".join(commands), len(commands))
    else:
        exchange = _one_by_one(wire, commands)
    replies = await _replies(wire, provider, "mail", exchange)
    if isinstance(replies, Result):
        return replies
    if replies[0].code // 100 != 2:
        return await _failed(wire, replies, commands, _reply(provider, "mail", replies[0]), "mail")
    count = len(rcpt_to)
    if len(replies) < 1 + count:
        return _lost(provider, "rcpt", wire)
    accepted: list[str] = []
    rejected: list[RecipientRejection] = []
    for rcpt, reply in zip(rcpt_to, replies[1 : 1 + count], strict=True):
        if reply.code // 100 == 2:
            accepted.append(rcpt)
        else:
            rejected.append(RecipientRejection(rcpt, reply.code, reply.text))
    if not accepted:
        outcome = SendOutcome(provider=provider, rejected=tuple(rejected), stage="rcpt")
        return await _failed(wire, replies, commands, outcome, "rcpt")
    if len(replies) < len(commands):
        return _lost(provider, "data", wire)
    if replies[-1].code != 354:
        return await _failed(wire, replies, commands, _reply(provider, "data", replies[-1]), "data")

    final = await _replies(wire, provider, "data", wire.exchange(dot_stuffed(mime), 1))
    if isinstance(final, Result):
        return final
    reply = final[0]
    if reply.code != 250:
        return Result(_reply(provider, "data", reply), await wire.reset(), "data")
    code, text = enhanced(reply.text)
    outcome = SendOutcome(
        provider=provider,
        accepted=tuple(accepted),
        rejected=tuple(rejected),
        code=reply.code,
        enhanced_code=code,
        message=text,
        provider_message_id=text[:200] or None,
    )
    return Result(outcome, True, "data")


async def _one_by_one(wire: SmtpWire, commands: list[bytes]) -> list[Reply]:
    """Without PIPELINING: stop after a refused MAIL, and send no DATA without a recipient."""
    replies: list[Reply] = []
    last = len(commands) - 1
    for index, command in enumerate(commands):
        if index == last and not any(r.code // 100 == 2 for r in replies[1:]):
            break
        wire.write(command)
        got = await wire.read(1)
        if not got:
            break
        replies += got
        if index == 0 and got[0].code // 100 != 2:
            break
    return replies


async def _replies(
    wire: SmtpWire, provider: str, at: Stage, exchange: Awaitable[list[Reply]]
) -> list[Reply] | Result:
    """The replies `exchange` reads at `at`; the network Result when the relay went silent,
    closed the connection or answered nothing."""
    try:
        replies = await exchange
    except TimeoutError:
        wire.close()
        return _lost(provider, at, "timeout")
    except WireClosed:
        return _lost(provider, at, wire)
    if not replies:
        return _lost(provider, at, wire)
    return replies


async def _failed(
    wire: SmtpWire, replies: list[Reply], commands: list[bytes], outcome: SendOutcome, at: Stage
) -> Result:
    """End a refused transaction: finish an accepted DATA with an empty message, then RSET."""
    if len(replies) == len(commands) and replies[-1].code == 354:
        # RFC 2920 §3.1: DATA was accepted although nothing else was; end it empty.
        try:
            await wire.exchange(b".\r\n", 1)
        except (WireClosed, TimeoutError):
            return Result(outcome, False, at)
    if outcome.code == 421:
        wire.close()
        return Result(outcome, False, at)
    return Result(outcome, await wire.reset(), at)


def _reply(provider: str, stage: Stage, reply: Reply) -> SendOutcome:
    code, text = enhanced(reply.text)
    return SendOutcome(
        provider=provider, code=reply.code, enhanced_code=code, message=text, stage=stage
    )


def _lost(provider: str, at: Stage, why: "SmtpWire | str") -> Result:
    """The connection broke or went silent at `at`: a network outcome, not reusable."""
    if why == "timeout":
        kind: Stage = "timeout"
        detail = "the relay did not answer in time"
    else:
        kind = "network"
        closed = why.closed_by if isinstance(why, SmtpWire) else None
        detail = str(closed) if closed else "connection closed by the relay"
    outcome = SendOutcome(provider=provider, stage=kind, network_error=f"{detail} (during {at})")
    return Result(outcome, False, at)
