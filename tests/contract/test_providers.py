"""Provider conformance: every provider returns a SendOutcome of facts and never raises.

The common suite runs over `outbox` (a real SQLite store under tmp_path) and `smtp` (the real
aiosmtpd sink). SMTP-only replies (4xx, 5xx, refused RCPT, a dropped line, an unreachable
port, a silent relay) have their own section; `domain.retry.classify` must read each outcome
as DESIGN §5 says.
"""

import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from iep_appliance.clock import Clock
from iep_appliance.config_providers import SmtpProviderConfig
from iep_appliance.delivery.providers.base import Envelope, Provider
from iep_appliance.delivery.providers.outbox import OutboxProvider
from iep_appliance.delivery.providers.smtp import SmtpProvider
from iep_appliance.domain.outcomes import SendOutcome
from iep_appliance.domain.retry import classify
from iep_appliance.store.sqlite.store import SqliteStore
from tests.support.smtp_sink import SmtpSink

TENANT = "tenant-1"


@pytest.fixture(params=["pipelining", "one-by-one"])
def smtp_sink(request: pytest.FixtureRequest) -> Iterator[SmtpSink]:
    """The relay with and without PIPELINING: both ways of running a transaction."""
    with SmtpSink(pipelining=request.param == "pipelining") as sink:
        yield sink


def mime_for(message_id: str) -> bytes:
    return (
        "From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n"
        f"X-IEP-Message-Id: {message_id}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n.leading dot\r\n"
    ).encode()


def envelope(message_id: str, *rcpts: str) -> Envelope:
    return Envelope("a@example.com", rcpts or ("b@example.org",), message_id, TENANT)


def smtp_provider(port: int, **overrides: object) -> SmtpProvider:
    cfg = {"host": "127.0.0.1", "port": port, "connections": 2}
    cfg |= {"timeout_seconds": 5.0, **overrides}
    return SmtpProvider("relay", SmtpProviderConfig(**cfg))  # type: ignore[arg-type]


@dataclass
class World:
    """One provider and a way to see what it delivered and to break its destination."""

    provider: Provider
    delivered: Callable[[], object]  # async () -> set of delivered message ids
    break_destination: Callable[[], object]  # async () -> None


@pytest.fixture(params=["outbox", "smtp"])
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, smtp_sink: SmtpSink
) -> AsyncIterator[World]:
    if request.param == "outbox":
        store = SqliteStore(str(tmp_path / "iep.db"), Clock())
        await store.open()
        outbox = OutboxProvider("outbox", store.save_outbox)

        async def delivered_outbox() -> set[str]:
            return {item.message_id for item in await store.dashboard_outbox(limit=1000)}

        try:
            yield World(outbox, delivered_outbox, store.close)
        finally:
            await outbox.aclose()
            await store.close()
    else:
        relay = smtp_provider(smtp_sink.port)

        async def delivered_smtp() -> set[str]:
            return set(smtp_sink.by_iep_id())

        async def break_smtp() -> None:
            smtp_sink.stop()

        try:
            yield World(relay, delivered_smtp, break_smtp)
        finally:
            await relay.aclose()


# ---- every provider ----------------------------------------------------------------------


async def test_send_hands_the_message_over_and_reports_every_recipient(world: World) -> None:
    outcome = await world.provider.send(
        envelope("m-1", "b@example.org", "c@example.org"), mime_for("m-1")
    )
    assert isinstance(outcome, SendOutcome)
    assert outcome.ok
    assert classify(outcome) == "ok"
    assert set(outcome.accepted) == {"b@example.org", "c@example.org"}
    assert outcome.rejected == ()
    assert outcome.provider == world.provider.name
    assert outcome.provider_message_id
    assert await world.delivered() == {"m-1"}


async def test_consecutive_sends_each_arrive(world: World) -> None:
    for i in range(5):
        outcome = await world.provider.send(envelope(f"m-{i}"), mime_for(f"m-{i}"))
        assert outcome.ok, outcome
    assert await world.delivered() == {f"m-{i}" for i in range(5)}


async def test_an_unavailable_destination_is_a_transient_outcome_not_an_exception(
    world: World,
) -> None:
    await world.break_destination()
    outcome = await world.provider.send(envelope("m-1"), mime_for("m-1"))
    assert isinstance(outcome, SendOutcome)
    assert not outcome.ok
    assert outcome.network_error
    assert classify(outcome) == "transient"


async def test_check_health_is_true_when_the_destination_takes_mail(world: World) -> None:
    assert await world.provider.check_health() is True


async def test_aclose_is_idempotent(world: World) -> None:
    assert (await world.provider.send(envelope("m-1"), mime_for("m-1"))).ok
    await world.provider.aclose()
    await world.provider.aclose()


# ---- smtp: what the relay answers ---------------------------------------------------------


@pytest.fixture
async def relay(smtp_sink: SmtpSink) -> AsyncIterator[SmtpProvider]:
    provider = smtp_provider(smtp_sink.port)
    try:
        yield provider
    finally:
        await provider.aclose()


async def test_smtp_4xx_at_rcpt_is_transient(relay: SmtpProvider, smtp_sink: SmtpSink) -> None:
    smtp_sink.script_rcpt("b@example.org", "451 4.3.0 try later")
    outcome = await relay.send(envelope("m-1"), mime_for("m-1"))
    assert outcome.stage == "rcpt"
    assert [(r.address, r.code) for r in outcome.rejected] == [("b@example.org", 451)]
    assert classify(outcome) == "transient"
    assert smtp_sink.data_attempts == 0


async def test_smtp_4xx_at_data_is_transient(relay: SmtpProvider, smtp_sink: SmtpSink) -> None:
    smtp_sink.script_data("452 4.3.1 insufficient storage")
    outcome = await relay.send(envelope("m-1"), mime_for("m-1"))
    assert (outcome.stage, outcome.code) == ("data", 452)
    assert classify(outcome) == "transient"


async def test_smtp_5xx_at_data_is_permanent_with_the_reply(
    relay: SmtpProvider, smtp_sink: SmtpSink
) -> None:
    smtp_sink.script_data("554 5.6.0 Message content rejected")
    outcome = await relay.send(envelope("m-1"), mime_for("m-1"))
    assert (outcome.stage, outcome.code, outcome.enhanced_code) == ("data", 554, "5.6.0")
    assert outcome.message == "Message content rejected"
    assert classify(outcome) == "permanent"


async def test_smtp_connection_is_reused_after_a_failed_transaction(
    relay: SmtpProvider, smtp_sink: SmtpSink
) -> None:
    smtp_sink.script_data("554 5.6.0 rejected")
    assert not (await relay.send(envelope("m-1"), mime_for("m-1"))).ok
    outcome = await relay.send(envelope("m-2"), mime_for("m-2"))
    assert outcome.ok, outcome
    assert smtp_sink.by_iep_id() == {"m-2": 1}


async def test_smtp_one_refused_rcpt_still_delivers_to_the_others(
    relay: SmtpProvider, smtp_sink: SmtpSink
) -> None:
    smtp_sink.script_rcpt("x@example.org", "550 5.1.1 no such user")
    outcome = await relay.send(
        envelope("m-1", "b@example.org", "x@example.org", "c@example.org"), mime_for("m-1")
    )
    assert outcome.ok
    assert classify(outcome) == "ok"
    assert outcome.accepted == ("b@example.org", "c@example.org")
    assert [(r.address, r.code, r.message) for r in outcome.rejected] == [
        ("x@example.org", 550, "5.1.1 no such user")
    ]
    [got] = smtp_sink.received
    assert got.rcpt_tos == ("b@example.org", "c@example.org")


async def test_smtp_every_rcpt_refused_with_5xx_is_a_bounce(
    relay: SmtpProvider, smtp_sink: SmtpSink
) -> None:
    smtp_sink.set_rcpt_rule(lambda address, attempt: "550 5.1.1 no such user")
    outcome = await relay.send(envelope("m-1", "b@example.org", "c@example.org"), mime_for("m-1"))
    assert not outcome.ok
    assert {r.address for r in outcome.rejected} == {"b@example.org", "c@example.org"}
    assert classify(outcome) == "bounced"
    assert smtp_sink.data_attempts == 0


@pytest.mark.parametrize("stage", ["rcpt", "data"])
async def test_smtp_a_dropped_line_is_transient_and_the_next_send_reconnects(
    relay: SmtpProvider, smtp_sink: SmtpSink, stage: str
) -> None:
    smtp_sink.drop_line(at=stage, times=1)  # type: ignore[arg-type]
    outcome = await relay.send(envelope("m-1"), mime_for("m-1"))
    assert not outcome.ok
    assert outcome.network_error
    assert classify(outcome) == "transient"
    assert (await relay.send(envelope("m-2"), mime_for("m-2"))).ok
    assert smtp_sink.by_iep_id() == {"m-2": 1}


async def test_smtp_a_pooled_connection_the_relay_dropped_is_replaced_at_once(
    relay: SmtpProvider, smtp_sink: SmtpSink
) -> None:
    assert (await relay.send(envelope("m-1"), mime_for("m-1"))).ok  # leaves one pooled
    smtp_sink.drop_line(at="mail", times=1)  # the pooled connection dies at MAIL
    outcome = await relay.send(envelope("m-2"), mime_for("m-2"))
    assert outcome.ok, outcome
    assert smtp_sink.by_iep_id() == {"m-1": 1, "m-2": 1}


async def test_smtp_a_fresh_connection_dropped_at_mail_is_not_retried_in_place(
    relay: SmtpProvider, smtp_sink: SmtpSink
) -> None:
    smtp_sink.drop_line(at="mail", times=1)
    outcome = await relay.send(envelope("m-1"), mime_for("m-1"))
    assert classify(outcome) == "transient"
    assert smtp_sink.received == []


async def test_smtp_an_unreachable_port_is_transient() -> None:
    # A port held bound but not listening refuses connections, and no other worker can take it.
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    provider = smtp_provider(holder.getsockname()[1])
    try:
        outcome = await provider.send(envelope("m-1"), mime_for("m-1"))
        assert outcome.network_error is not None
        assert "connect" in outcome.network_error
        assert classify(outcome) == "transient"
        assert await provider.check_health() is False
    finally:
        await provider.aclose()
        holder.close()


async def test_smtp_a_silent_relay_times_out_as_transient(smtp_sink: SmtpSink) -> None:
    smtp_sink.set_delay(3.0)  # every DATA waits 3 s before answering
    provider = smtp_provider(smtp_sink.port, timeout_seconds=0.3)
    try:
        outcome = await provider.send(envelope("m-1"), mime_for("m-1"))
        assert outcome.stage == "timeout", outcome
        assert classify(outcome) == "transient"
    finally:
        await provider.aclose()


async def test_smtp_send_rate_limit_spaces_transactions(smtp_sink: SmtpSink) -> None:
    provider = smtp_provider(smtp_sink.port, max_per_second=20.0)
    try:
        started = time.monotonic()
        for i in range(5):
            assert (await provider.send(envelope(f"m-{i}"), mime_for(f"m-{i}"))).ok
        # Five sends at 20/s need at least four intervals of 50 ms (a lower bound only).
        assert time.monotonic() - started >= 0.2
    finally:
        await provider.aclose()


async def test_smtp_pipelines_exactly_when_the_relay_offers_it(
    relay: SmtpProvider, smtp_sink: SmtpSink
) -> None:
    assert (await relay.send(envelope("m-1", "b@example.org", "c@example.org"), mime_for("m-1"))).ok
    [pooled] = relay._idle
    assert ("pipelining" in pooled.extensions) is smtp_sink.pipelining
