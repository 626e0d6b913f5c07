"""A real SMTP server (aiosmtpd) on 127.0.0.1 at a free port, scripted per recipient.

It answers RCPT and DATA from scripts (a reply line, or None for "accept"), can drop the line
at MAIL, RCPT or DATA, can slow each message down, and records every accepted message.
The server runs aiosmtpd's threaded `Controller`: its own event loop in a daemon thread, so it
works beside any test loop (and beside blocking sync tests). Hooks run on that thread; all
shared state is guarded by one lock and read through snapshots.

    with SmtpSink() as sink:
        sink.script_rcpt("a@x.com", "451 4.3.0 try later", None)   # 451 once, then accept
        sink.script_data("554 5.6.0 rejected")                     # next DATA fails
        sink.drop_line(at="rcpt", times=1)                         # next RCPT: connection cut
        sink.refuse_sender("acme.test", "550 5.7.1 no", at="mail")  # one tenant's mail refused
        ... send to ("127.0.0.1", sink.port) ...
        await wait_until(lambda: len(sink.received) == 1)

`SmtpSink(auth=("relay-user", "s3cret"))` also offers AUTH PLAIN/LOGIN without TLS and takes
only that login (535 for any other); MAIL does not require it.
"""

import asyncio
import email
import email.policy
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

Reply = str | None
"""An SMTP reply line such as "451 4.3.0 try later"; None means accept ("250 OK")."""

RcptRule = Callable[[str, int], Reply]
"""rule(address, attempt) -> reply; attempt counts RCPTs for that address from 1."""

DataRule = Callable[[str, tuple[str, ...], bytes], Reply]
"""rule(mail_from, rcpt_tos, data) -> reply, consulted at DATA after the scripted sequence."""

Stage = Literal["mail", "rcpt", "data"]

ACCEPT = "250 OK"
_DROP_BOUND_SECONDS = 30.0


@dataclass(frozen=True)
class Received:
    """One message the sink accepted (answered 250 at DATA).

    `data` is the bytes as received (CRLF line ends, dot-stuffing undone). `parsed` is parsed
    from a copy with LF line ends, so `get_content()` of a text part compares equal to "...\\n".
    """

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    parsed: EmailMessage
    helo: str = ""  # the name the client gave in EHLO (or HELO)

    @classmethod
    def from_envelope(
        cls, mail_from: str, rcpt_tos: Iterable[str], data: bytes, helo: str = ""
    ) -> "Received":
        # The parser keeps CRLF inside bodies; LF gives text parts Python's usual line ends.
        lf_data = data.replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(lf_data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return cls(mail_from, tuple(rcpt_tos), data, parsed, helo)


class _BoundPortController(Controller):
    """A Controller that binds port 0 (or the one asked for) and learns the port it got."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpSink:
    """Scriptable aiosmtpd server. Start with `start()` or `with SmtpSink() as sink:`."""

    def __init__(
        self,
        *,
        rcpt_replies: dict[str, list[Reply]] | None = None,
        rcpt_rule: RcptRule | None = None,
        data_replies: list[Reply] | None = None,
        data_rule: DataRule | None = None,
        delay: float = 0.0,
        hostname: str = "127.0.0.1",
        pipelining: bool = True,
        port: int = 0,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.hostname = hostname
        self.auth = auth  # (login, password) the sink offers AUTH for; None: no AUTH
        self._port = port  # 0: a free port the kernel picks; else come back on a known one
        self.pipelining = pipelining
        self._lock = threading.Lock()
        self._rcpt_replies: dict[str, list[Reply]] = {}
        self._rcpt_rule = rcpt_rule
        self._data_replies: list[Reply] = list(data_replies or [])
        self._data_rule = data_rule
        self._delay = delay
        self._drops: Counter[str] = Counter()
        self._rcpt_attempts: Counter[str] = Counter()
        self._data_attempts = 0
        self._dropped = 0
        self._received: list[Received] = []
        self._sender_refusals: dict[str, tuple[Stage, str]] = {}
        self._refused: Counter[str] = Counter()
        for address, replies in (rcpt_replies or {}).items():
            self.script_rcpt(address, *replies)
        self._controller: _BoundPortController | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "SmtpSink":
        if self._controller is not None:
            raise RuntimeError("SmtpSink already started")
        controller = _BoundPortController(
            _Handler(self),
            hostname=self.hostname,
            port=self._port,
            # A fixed name: the default calls socket.getfqdn(), a DNS lookup per connection.
            server_hostname="sink.test",
            ready_timeout=10.0,
            **self._auth_parameters(),
        )
        controller.start()
        self._controller = controller
        return self

    def _auth_parameters(self) -> dict[str, Any]:
        if self.auth is None:
            return {}
        return {"authenticator": self._authenticate, "auth_require_tls": False}

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.auth is not None
        login, password = self.auth
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            login.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "SmtpSink":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("SmtpSink not started")
        return int(self._controller.port)

    @property
    def address(self) -> tuple[str, int]:
        return (self.hostname, self.port)

    # -- scripting (callable from any thread) ------------------------------------------------

    def script_rcpt(self, address: str, *replies: Reply) -> None:
        """Append replies for RCPT TO `address`, one consumed per attempt; then accept."""
        with self._lock:
            self._rcpt_replies.setdefault(address.lower(), []).extend(replies)

    def set_rcpt_rule(self, rule: RcptRule | None) -> None:
        """Answer RCPTs not covered by a scripted reply with `rule(address, attempt)`."""
        with self._lock:
            self._rcpt_rule = rule

    def script_data(self, *replies: Reply) -> None:
        """Append replies for the next DATA commands (any recipients), one per transaction."""
        with self._lock:
            self._data_replies.extend(replies)

    def set_data_rule(self, rule: DataRule | None) -> None:
        with self._lock:
            self._data_rule = rule

    def drop_line(self, at: Stage = "rcpt", times: int = 1) -> None:
        """Abort the TCP connection (no reply) the next `times` times a client reaches `at`.

        At "data" the whole message has been sent and the client waits for the final reply:
        the ambiguous case where a sender cannot know whether the message was taken.
        """
        if at not in ("mail", "rcpt", "data"):
            raise ValueError(f"unknown stage {at!r}")
        with self._lock:
            self._drops[at] += times

    def refuse_sender(self, domain: str, reply: str | None, at: Stage = "mail") -> None:
        """Answer `reply` at `at` (MAIL, each RCPT, or DATA) in every transaction whose MAIL FROM
        is at `domain` — one tenant's sender domain; None lifts the refusal."""
        if at not in ("mail", "rcpt", "data"):
            raise ValueError(f"unknown stage {at!r}")
        with self._lock:
            if reply is None:
                self._sender_refusals.pop(domain.lower(), None)
            else:
                self._sender_refusals[domain.lower()] = (at, reply)

    def refused(self, domain: str) -> int:
        """How many replies `refuse_sender` gave for `domain`."""
        with self._lock:
            return self._refused[domain.lower()]

    def set_delay(self, seconds: float) -> None:
        """Sleep this long (asynchronously) in every DATA before answering: a slow sink."""
        with self._lock:
            self._delay = seconds

    def reset(self) -> None:
        """Forget received messages, counters and every script."""
        with self._lock:
            self._rcpt_replies.clear()
            self._rcpt_rule = None
            self._data_replies.clear()
            self._data_rule = None
            self._delay = 0.0
            self._drops.clear()
            self._sender_refusals.clear()
            self._refused.clear()
            self._rcpt_attempts.clear()
            self._data_attempts = 0
            self._dropped = 0
            self._received.clear()

    # -- observations ------------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        """A snapshot of accepted messages, in arrival order."""
        with self._lock:
            return list(self._received)

    def by_iep_id(self) -> dict[str, int]:
        """X-IEP-Message-Id -> how many accepted messages carried it (absent header: skipped)."""
        counts: Counter[str] = Counter()
        for item in self.received:
            value = item.parsed.get("X-IEP-Message-Id")
            if value is not None:
                counts[str(value).strip()] += 1
        return dict(counts)

    def rcpt_attempts(self, address: str) -> int:
        """How many RCPT TO commands named `address` (accepted or not)."""
        with self._lock:
            return self._rcpt_attempts[address.lower()]

    @property
    def data_attempts(self) -> int:
        """How many transactions reached the end of DATA (accepted, rejected or dropped)."""
        with self._lock:
            return self._data_attempts

    @property
    def dropped(self) -> int:
        """How many connections the sink cut on purpose."""
        with self._lock:
            return self._dropped

    # -- decisions, called by the handler on the sink thread ---------------------------------

    def _take_drop(self, stage: Stage) -> bool:
        with self._lock:
            if self._drops[stage] > 0:
                self._drops[stage] -= 1
                self._dropped += 1
                if stage == "data":
                    self._data_attempts += 1
                return True
            return False

    def _refusal(self, mail_from: str, stage: Stage) -> Reply:
        domain = mail_from.rpartition("@")[2].lower()
        with self._lock:
            rule = self._sender_refusals.get(domain)
            if rule is None or rule[0] != stage:
                return None
            self._refused[domain] += 1
            return rule[1]

    def _rcpt_reply(self, address: str) -> Reply:
        key = address.lower()
        with self._lock:
            self._rcpt_attempts[key] += 1
            scripted = self._rcpt_replies.get(key)
            if scripted:
                return scripted.pop(0)
            rule = self._rcpt_rule
            attempt = self._rcpt_attempts[key]
        return rule(address, attempt) if rule else None

    def _data_reply(self, mail_from: str, rcpt_tos: tuple[str, ...], data: bytes) -> Reply:
        with self._lock:
            self._data_attempts += 1
            if self._data_replies:
                return self._data_replies.pop(0)
            rule = self._data_rule
        return rule(mail_from, rcpt_tos, data) if rule else None

    def _current_delay(self) -> float:
        with self._lock:
            return self._delay

    def _record(self, item: Received) -> None:
        with self._lock:
            self._received.append(item)


class _Handler:
    """aiosmtpd hooks; each returns the reply line (aiosmtpd/docs/handlers.rst)."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if not self.sink.pipelining:
            return responses
        # Like Postfix: offer PIPELINING (aiosmtpd reads commands line by line, so it copes).
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.sink._take_drop("mail"):
            return await _drop(server)
        refusal = self.sink._refusal(address, "mail")
        if refusal is not None:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return ACCEPT

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.sink._take_drop("rcpt"):
            return await _drop(server)
        refusal = self.sink._refusal(str(envelope.mail_from), "rcpt")
        if refusal is not None:
            return refusal
        reply = self.sink._rcpt_reply(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return ACCEPT

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        delay = self.sink._current_delay()
        if delay > 0:
            await asyncio.sleep(delay)
        if self.sink._take_drop("data"):
            return await _drop(server)
        mail_from = str(envelope.mail_from)
        rcpt_tos = tuple(envelope.rcpt_tos)
        data = _content_bytes(envelope)
        refusal = self.sink._refusal(mail_from, "data")
        if refusal is not None:
            return refusal
        reply = self.sink._data_reply(mail_from, rcpt_tos, data)
        if reply is not None:
            return reply
        helo = str(session.host_name or "")
        self.sink._record(Received.from_envelope(mail_from, rcpt_tos, data, helo))
        return "250 2.0.0 OK queued"


async def _drop(server: SMTP) -> str:
    """Abort the connection without a reply.

    abort() makes the loop call connection_lost(), which cancels aiosmtpd's session task, and
    with it this await: the session ends as a clean cancellation (no "exception never
    retrieved" noise). The sleep is only a bound in case that never happens.
    """
    transport: Any = server.transport
    if transport is not None:
        transport.abort()
    await asyncio.sleep(_DROP_BOUND_SECONDS)
    return "421 4.4.2 connection dropped"


def _content_bytes(envelope: Envelope) -> bytes:
    content = envelope.original_content
    if content is None:
        content = envelope.content
    if isinstance(content, str):
        return content.encode("utf-8", errors="surrogateescape")
    return bytes(content or b"")
