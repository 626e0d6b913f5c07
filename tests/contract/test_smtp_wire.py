"""smtp_wire: replies however the packets split them, pipelined writes, and the odd relay.

A scripted relay here is a plain asyncio server on 127.0.0.1 that answers each command line
from a function, and records what it read; it can answer several commands in one packet or
one byte at a time, which aiosmtpd cannot be told to do.
"""

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from iep_appliance.delivery.providers.smtp_wire import SmtpWire, dot_stuffed, transaction

Answer = Callable[[bytes], bytes | None]  # command line -> reply bytes (None: close the line)


class ScriptedRelay:
    def __init__(self, answer: Answer, *, dribble: bool = False) -> None:
        self.answer = answer
        self.dribble = dribble
        self.lines: list[bytes] = []
        self.writes: list[int] = []  # reads per client packet: how many commands came at once
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        in_data = False
        try:
            while line := await reader.readline():
                self.lines.append(line)
                if in_data:
                    if line == b".\r\n":
                        in_data = False
                        reply = self.answer(b"<end of data>")
                    else:
                        continue
                else:
                    reply = self.answer(line.rstrip(b"\r\n"))
                    in_data = reply is not None and reply.startswith(b"354")
                if reply is None:
                    break
                if self.dribble:
                    for i in range(len(reply)):
                        writer.write(reply[i : i + 1])
                        await writer.drain()
                else:
                    writer.write(reply)
        finally:
            writer.close()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def postfix_like(line: bytes) -> bytes | None:
    if line.startswith(b"MAIL"):
        return b"250 2.1.0 Ok\r\n"
    if line.startswith(b"RCPT"):
        if b"nobody" in line:
            return b"550-5.1.1 no such user\r\n550 5.1.1 try another\r\n"
        return b"250 2.1.5 Ok\r\n"
    if line == b"DATA":
        return b"354 End data with <CR><LF>.<CR><LF>\r\n"
    if line == b"<end of data>":
        return b"250 2.0.0 Ok: queued as ABC123\r\n"
    if line == b"RSET":
        return b"250 2.0.0 Ok\r\n"
    return b"502 5.5.2 unknown\r\n"


async def connect(port: int, *extensions: str) -> SmtpWire:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    return SmtpWire.adopt(transport, frozenset(extensions), timeout=5.0)


@pytest.fixture
async def relays() -> AsyncIterator[list[ScriptedRelay]]:
    started: list[ScriptedRelay] = []
    yield started
    for relay in started:
        await relay.stop()


async def open_relay(relays: list[ScriptedRelay], answer: Answer, **kw: bool) -> SmtpWire:
    relay = ScriptedRelay(answer, **kw)
    relays.append(relay)
    return await connect(await relay.start(), "pipelining")


MIME = b"Subject: hi\r\n\r\nhello\r\n.dot line\r\n"


@pytest.mark.parametrize("dribble", [False, True], ids=["whole", "byte-by-byte"])
async def test_pipelined_transaction_reads_every_reply_however_it_arrives(
    relays: list[ScriptedRelay], dribble: bool
) -> None:
    wire = await open_relay(relays, postfix_like, dribble=dribble)
    rcpts = ("a@example.org", "nobody@example.org", "b@example.org")

    result = await transaction(wire, "relay", "from@example.com", rcpts, MIME)

    assert result.outcome.ok and result.reusable
    assert result.outcome.accepted == ("a@example.org", "b@example.org")
    [rejected] = result.outcome.rejected
    assert (rejected.code, rejected.message) == (550, "5.1.1 no such user\n5.1.1 try another")
    assert result.outcome.provider_message_id == "Ok: queued as ABC123"
    # the relay saw the dot-stuffed content and the end-of-data line
    assert b"..dot line\r\n" in relays[0].lines and relays[0].lines[-1] == b".\r\n"


async def test_the_next_transaction_on_the_same_connection_starts_clean(
    relays: list[ScriptedRelay],
) -> None:
    wire = await open_relay(relays, postfix_like)
    for _ in range(3):
        result = await transaction(wire, "relay", "f@example.com", ("a@example.org",), MIME)
        assert result.outcome.ok and result.reusable


async def test_data_accepted_although_every_rcpt_was_refused_is_ended_empty(
    relays: list[ScriptedRelay],
) -> None:
    """RFC 2920 §3.1: a relay may answer 354 to a pipelined DATA after refusing every RCPT."""

    def answer(line: bytes) -> bytes | None:
        if line.startswith(b"RCPT"):
            return b"550 5.1.1 no\r\n"
        return postfix_like(line)

    wire = await open_relay(relays, answer)
    result = await transaction(wire, "relay", "f@example.com", ("x@example.org",), MIME)

    assert result.outcome.stage == "rcpt" and not result.outcome.ok
    assert result.reusable  # ended with "." and RSET, not closed
    lines = relays[0].lines
    assert lines[-2:] == [b".\r\n", b"RSET\r\n"]
    assert b"hello\r\n" not in lines  # the content was never sent


async def test_a_refused_mail_from_refuses_the_whole_pipelined_group(
    relays: list[ScriptedRelay],
) -> None:
    def answer(line: bytes) -> bytes | None:
        if line.startswith(b"MAIL"):
            return b"553 5.7.1 sender rejected\r\n"
        if line.startswith(b"RCPT") or line == b"DATA":
            return b"503 5.5.1 need MAIL\r\n"
        return postfix_like(line)

    wire = await open_relay(relays, answer)
    result = await transaction(wire, "relay", "f@example.com", ("a@example.org",), MIME)

    assert (result.outcome.stage, result.outcome.code) == ("mail", 553)
    assert result.outcome.enhanced_code == "5.7.1"
    assert result.reusable


async def test_a_line_closed_after_the_rcpt_replies_is_a_network_outcome_at_data(
    relays: list[ScriptedRelay],
) -> None:
    def answer(line: bytes) -> bytes | None:
        return None if line == b"DATA" else postfix_like(line)

    wire = await open_relay(relays, answer)
    result = await transaction(wire, "relay", "f@example.com", ("a@example.org",), MIME)

    assert result.outcome.stage == "network" and not result.reusable
    assert result.outcome.network_error and result.outcome.network_error.endswith("(during data)")
    assert not wire.is_connected


async def test_a_silent_relay_times_out_and_the_connection_is_closed(
    relays: list[ScriptedRelay],
) -> None:
    wire = await open_relay(relays, lambda line: b"")  # reads every command, answers none
    wire.timeout = 0.2

    result = await transaction(wire, "relay", "f@example.com", ("a@example.org",), MIME)

    assert result.outcome.stage == "timeout" and not result.reusable
    assert not wire.is_connected


async def test_a_non_ascii_address_needs_smtputf8(relays: list[ScriptedRelay]) -> None:
    wire = await open_relay(relays, postfix_like)  # offers PIPELINING only
    result = await transaction(wire, "relay", "f@example.com", ("zoë@example.org",), MIME)
    assert (result.outcome.code, result.outcome.stage) == (553, "mail")
    assert relays[0].lines == []  # nothing was sent

    wire.extensions = frozenset({"pipelining", "smtputf8"})
    result = await transaction(wire, "relay", "f@example.com", ("zoë@example.org",), MIME)
    assert result.outcome.ok
    assert relays[0].lines[0] == b"MAIL FROM:<f@example.com> SMTPUTF8\r\n"


def test_dot_stuffing_normalises_line_ends_and_ends_the_data() -> None:
    assert dot_stuffed(b"a\r\n.b\r\nc") == b"a\r\n..b\r\nc\r\n.\r\n"
    assert dot_stuffed(b".x\nlone\rcr\r\n") == b"..x\r\nlone\r\ncr\r\n.\r\n"
    assert dot_stuffed(b"plain\r\n") == b"plain\r\n.\r\n"
