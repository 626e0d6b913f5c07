"""One SMTP connection: aiosmtpd's protocol with IEP's DATA reader and reply texts.

aiosmtpd reads DATA one line at a time and answers size and line faults without enhanced
status codes; this subclass reads the message in a few large reads (the terminator
`CRLF.CRLF` found by `readuntil`, RFC 5321 §4.1.1.4), keeps reading and discarding past
`max_message_bytes` so the client gets its `552 5.3.4` after its last line (§4.2.5), and
rewrites the few fixed replies aiosmtpd sends itself into RFC 3463 form. AUTH without TLS
is allowed only from loopback (decided per connection, once the peer is known).
"""

import asyncio
import ipaddress
import re
from typing import Any

from aiosmtpd.smtp import SMTP

# aiosmtpd's own replies, in RFC 3463 form ({limit}: max_message_bytes).
_REWRITES = {
    "552 Error: message size exceeds fixed maximum message size": (
        "552 5.3.4 Message size exceeds the limit of {limit} bytes"
    ),
    "503 Error: need MAIL command": "503 5.5.1 Error: need MAIL command",
    "500 Command line too long": "500 5.5.2 Command line too long",
    "503 Already authenticated": "503 5.5.1 Already authenticated",
}


# `<local@domain> params` with nothing aiosmtpd's full RFC 5321 parser is needed for.
_SIMPLE_PATH = re.compile(r"\s*<([^\s\"(),:;<>\[\]\\]+)>(.*)\Z", re.S)


def is_loopback(peer: Any) -> bool:
    host = peer[0] if isinstance(peer, tuple) and peer else peer
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False


class SubmissionProtocol(SMTP):
    """Per-connection state beyond aiosmtpd's session: who authenticated, with what key."""

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.presented_key: str | None = None
        self.auth_user: str | None = None
        self.principal: Any = None  # the key's Principal, checked again at each MAIL
        self.client = ""  # the peer's address
        self.implicit_tls = False
        self._replies: list[bytes] = []
        self._idle_deadline = 0.0  # loop time after which a silent connection is closed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self._original_transport is None and self.transport is None
        super().connection_made(transport)
        if not first:  # STARTTLS done: same connection, encrypted, and a new session (RFC 3207)
            self.presented_key = None
            self.auth_user = None
            self.principal = None
            return
        peer = self.session.peer
        self.client = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
        self.implicit_tls = transport.get_extra_info("sslcontext") is not None
        if self.implicit_tls:
            self.tls_context = None  # no STARTTLS inside TLS
        # RFC 4954 §4: no AUTH in the clear, except from this machine.
        self._auth_require_tls = not (self.implicit_tls or is_loopback(self.session.peer))
        self.event_handler.opened(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.event_handler.closed(self)
        super().connection_lost(error)

    @property
    def secure(self) -> bool:
        return self.implicit_tls or self._tls_protocol is not None

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd's parser (email._header_value_parser, and a class built per call) was a
        # third of the cost of a message; the common form is matched here, the rest there.
        simple = _SIMPLE_PATH.match(arg) if arg else None
        if simple is not None:
            return simple.group(1), simple.group(2)
        return super()._getaddr(arg)

    def _reset_timeout(self, duration: float | None = None) -> None:
        # aiosmtpd cancels its timer and schedules a new one at every command (four per
        # message, each a timer-heap insert plus a cancelled entry left behind); here a
        # command only moves the deadline, and the one pending timer re-arms itself for what
        # is left when it fires early. The same idle timeout, a float store per command.
        self._idle_deadline = self.loop.time() + (duration or self._timeout_duration)
        if self._timeout_handle is None:
            self._timeout_handle = self.loop.call_at(self._idle_deadline, self._idle_check)

    def _idle_check(self) -> None:
        left = self._idle_deadline - self.loop.time()
        if left > 0:
            self._timeout_handle = self.loop.call_at(self._idle_deadline, self._idle_check)
            return
        self._timeout_cb()  # the fired handle stays: aiosmtpd's connection_lost cancels it

    async def push(self, status: Any) -> None:
        if isinstance(status, str) and status in _REWRITES:
            status = _REWRITES[status].format(limit=self.data_size_limit)
        reply = status.encode("utf-8") if isinstance(status, str) else status
        self._replies.append(reply + b"\r\n")
        # RFC 2920 §3.2: replies to pipelined commands may go out together. While another
        # whole command line is already buffered, hold this reply; the last one of the group
        # (or any reply with nothing buffered behind it) writes them all in one segment.
        buffered = self._reader._buffer  # type: ignore[attr-defined]
        if b"\n" in buffered and len(self._replies) < 64:
            return
        self._writer.write(b"".join(self._replies))
        self._replies.clear()
        transport = self.transport
        if transport is None or transport.get_write_buffer_size():  # type: ignore[attr-defined]
            await self._writer.drain()  # only a client that does not read makes us wait

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            content = await self._read_data()
        except asyncio.IncompleteReadError:  # the client left mid-DATA: nothing is stored
            if self.transport is not None:
                self.transport.close()
            return
        if content is None:
            self._set_post_data_state()
            await self.push(f"552 5.3.4 Message size exceeds the limit of {self.data_size_limit}")
            return
        self.envelope.content = content
        self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push(status)

    async def _read_data(self) -> bytes | None:
        """The message after dot-unstuffing (RFC 5321 §4.5.2), or None when it was over
        `data_size_limit` (read to its end and discarded)."""
        reader = self._reader
        limit = self.data_size_limit or 0
        # StreamReader keeps its line limit in `_limit` (asyncio has no setter); aiosmtpd sets
        # it to the command line limit. Raised for the message and put back after it.
        saved = reader._limit  # type: ignore[attr-defined]
        reader._limit = limit + 16  # type: ignore[attr-defined]
        chunks: list[bytes] = []
        size = 0
        tail = b"\r\n"  # the DATA command's CRLF: a lone "." first ends an empty message
        over = False
        try:
            while True:
                try:
                    chunk = await reader.readuntil(b".\r\n")
                except asyncio.LimitOverrunError as exc:
                    chunk = await reader.read(exc.consumed)
                    over = True
                    size += len(chunk)
                    chunks.clear()
                    tail = chunk[-2:]
                    continue
                size += len(chunk)
                # The dot ends the message only at the start of a line.
                before = (tail + chunk)[-5:-3]
                done = before == b"\r\n"
                if not over:
                    chunks.append(chunk)
                    if size > limit + 3:
                        over = True
                        chunks.clear()
                tail = chunk[-2:] if len(chunk) >= 2 else (tail + chunk)[-2:]
                if done:
                    break
        finally:
            reader._limit = saved  # type: ignore[attr-defined]
        if over:
            return None
        data = b"".join(chunks)[:-3]  # without the terminating ".\r\n"
        if data.startswith(b"."):
            data = data[1:]
        return data.replace(b"\r\n.", b"\r\n")
