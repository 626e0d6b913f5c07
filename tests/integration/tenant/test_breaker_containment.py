"""Breakers judge providers, not messages (DESIGN §10.1).

A real SMTP relay (tests/support/smtp_sink.py) refuses one tenant's mail by its sender domain
— 550 at MAIL or RCPT, 554 at DATA, 451 — while another tenant's must flow: the refused
messages end by their own outcome, the relay's breaker stays closed, and every message of the
other tenant is delivered. A relay that is truly down (connection refused) opens the breaker;
jobs then wait for its half-open trial without spending attempts, and once the relay is back
the trial closes it and everything is delivered. The breaker reads the Runtime's FakeClock.
"""

import io
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from iep_appliance.logs import JsonFormatter
from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until

BREAKER = {"error_rate": 0.5, "min_requests": 3, "window_seconds": 60, "cooldown_seconds": 30}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log line at INFO and above, formatted as `iep serve` writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def log_events(stream: io.StringIO, prefix: str) -> list[dict[str, Any]]:
    found = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in found if str(line.get("event", "")).startswith(prefix)]


async def start(appliance: Appliance, port: int, schedule: list[int]) -> None:
    appliance.configure(
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": port}},
        routing={"default_provider": "relay"},
        breaker=BREAKER,
        delivery={"retry_schedule": schedule},
    )
    await appliance.start()


async def send(appliance: Appliance, who: TenantKey, domain: str, to: str) -> str:
    body = message(to=[to], **{"from": {"email": f"noreply@{domain}", "name": "Product"}})
    resp = await appliance.client.post("/v1/messages", json=body, headers=who.auth)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["messageId"])


async def detail(appliance: Appliance, who: TenantKey, message_id: str) -> Any:
    resp = await appliance.client.get(f"/v1/messages/{message_id}", headers=who.auth)
    assert resp.status_code == 200, resp.text
    return resp.json()


def metric(text: str, line_start: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.parametrize(
    ("at", "reply", "final"),
    [
        ("mail", "550 5.7.1 sender domain refused", "failed"),
        ("rcpt", "550 5.7.1 sender domain refused", "bounced"),
        ("data", "554 5.7.1 content refused", "failed"),
        ("mail", "451 4.7.1 greylisted, try later", "queued"),
        ("rcpt", "451 4.7.1 greylisted, try later", "queued"),
    ],
)
async def test_one_tenants_refused_mail_never_opens_the_breaker_for_another(
    appliance: Appliance,
    smtp_sink: SmtpSink,
    captured: io.StringIO,
    at: str,
    reply: str,
    final: str,
) -> None:
    await start(appliance, smtp_sink.port, [60, 300])
    bad = await appliance.tenant("bad", domains=("bad-corp.com",))
    good = await appliance.tenant("good", domains=("good-corp.com",))
    smtp_sink.refuse_sender("bad-corp.com", reply, at=at)  # type: ignore[arg-type]

    refused = [await send(appliance, bad, "bad-corp.com", f"r{i}@example.org") for i in range(8)]
    flowing = [await send(appliance, good, "good-corp.com", f"g{i}@example.org") for i in range(8)]

    async def all_settled() -> list[Any] | None:
        found = [await detail(appliance, bad, m) for m in refused]
        return found if all(d["status"] == final and d["attempts"] == 1 for d in found) else None

    finished = await wait_until(all_settled, timeout=20, message=f"bad's messages end {final}")

    async def all_sent() -> bool:  # recorded after the relay's 250, so poll the status
        return all([(await detail(appliance, good, m))["status"] == "sent" for m in flowing])

    await wait_until(all_sent, timeout=20, message="good's messages all sent")
    assert len(smtp_sink.received) == len(flowing)
    assert {r.mail_from for r in smtp_sink.received} == {"noreply@good-corp.com"}
    assert smtp_sink.refused("bad-corp.com") >= len(refused)
    for d in finished:  # each message carries its own reply, not a breaker's
        assert reply.split(" ")[0] in d["lastError"], d["lastError"]
        assert "circuit" not in d["lastError"]
    assert appliance.rt.services.delivery is not None
    assert appliance.rt.services.delivery.router.breakers["relay"].state == "closed"
    assert log_events(captured, "provider.circuit_") == []
    metrics = (await appliance.client.get("/metrics")).text
    assert 'iep_provider_circuit_state{provider="relay"} 0.0' in metrics
    assert "iep_provider_circuit_transitions_total{" not in metrics


def held_port() -> socket.socket:
    """A port bound but not listening: connections to it are refused, and no one else gets it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def test_a_dead_relay_opens_the_breaker_defers_for_free_and_the_trial_recovers(
    appliance: Appliance, captured: io.StringIO
) -> None:
    hold = held_port()
    port = hold.getsockname()[1]
    sink: SmtpSink | None = None
    try:
        await start(appliance, port, [60, 60])
        acme = await appliance.tenant("acme")
        engine = appliance.rt.services.delivery
        assert engine is not None

        first = [await send(appliance, acme, "example.com", f"f{i}@example.org") for i in range(3)]

        async def retried(ids: list[str]) -> list[Any] | None:
            found = [await detail(appliance, acme, m) for m in ids]
            ok = all(d["status"] == "queued" and d["attempts"] == 1 for d in found)
            return found if ok else None

        for d in await wait_until(lambda: retried(first), timeout=20, message="3 refused tries"):
            assert "network error" in d["lastError"], d["lastError"]
        assert engine.router.breakers["relay"].state == "open"
        opened = log_events(captured, "provider.circuit_opened")
        assert len(opened) == 1 and opened[0]["provider"] == "relay", opened

        later = [await send(appliance, acme, "example.com", f"l{i}@example.org") for i in range(5)]

        async def deferred() -> list[Any] | None:
            found = [await detail(appliance, acme, m) for m in later]
            ok = all(
                d["status"] == "queued"
                and d["attempts"] == 0
                and "circuit open" in (d["lastError"] or "")
                for d in found
            )
            return found if ok else None

        for d in await wait_until(deferred, timeout=20, message="later sends deferred"):
            assert "no attempt spent" in d["lastError"]
            assert not [e for e in d["events"] if e["type"] in ("retry_scheduled", "failed")]
        metrics = (await appliance.client.get("/metrics")).text
        assert metric(metrics, 'iep_provider_circuit_state{provider="relay"}') == 1.0
        assert metric(metrics, 'iep_sends_deferred_total{provider="relay"}') == 5.0

        hold.close()  # the relay comes back on its port
        sink = SmtpSink(port=port).start()
        everyone = first + later

        async def delivered() -> bool:
            appliance.clock.advance(5)  # type: ignore[attr-defined]
            engine.wake()
            return len(sink.received) >= len(everyone)

        await wait_until(delivered, timeout=30, interval=0.1, message="all delivered")

        async def all_sent() -> bool:  # recorded after the relay's 250
            return all([(await detail(appliance, acme, m))["status"] == "sent" for m in everyone])

        await wait_until(all_sent, timeout=20, message="all recorded sent")
        assert sorted(sink.by_iep_id().values()) == [1] * len(everyone)
        for message_id in first:  # the refused try, then the delivery
            d = await detail(appliance, acme, message_id)
            assert (d["status"], d["attempts"]) == ("sent", 2)
        for message_id in later:  # deferrals spent nothing: delivered at the first attempt
            d = await detail(appliance, acme, message_id)
            assert (d["status"], d["attempts"]) == ("sent", 1)
        assert engine.router.breakers["relay"].state == "closed"
        assert log_events(captured, "provider.circuit_half_open")
        assert log_events(captured, "provider.circuit_closed")
        metrics = (await appliance.client.get("/metrics")).text
        assert metric(metrics, 'iep_provider_circuit_state{provider="relay"}') == 0.0
        for state in ("open", "half_open", "closed"):
            name = f'iep_provider_circuit_transitions_total{{provider="relay",state="{state}"}}'
            assert metric(metrics, name) == 1.0, state
    finally:
        hold.close()
        if sink is not None:
            sink.stop()
