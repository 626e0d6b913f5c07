"""Provider failover: a primary that fails every send opens its breaker, the next messages
go out through the tenant's fallback, and after the cooldown one trial goes to the primary
again. Breaker state shows in /ready and /metrics, the provider of each attempt in events.

The primary is a real SMTP sink answering 421 (service not available: a provider-health failure,
DESIGN §10.1) at RCPT; the breaker reads the Runtime's FakeClock (monotonic), so the cooldown
passes with `clock.advance`.
"""

from typing import Any

from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until

BREAKER = {"error_rate": 0.5, "min_requests": 3, "window_seconds": 60, "cooldown_seconds": 30}


async def start_with_relay(appliance: Appliance, sink: SmtpSink, **routing: Any) -> TenantKey:
    appliance.configure(
        providers={
            "outbox": {"type": "outbox"},
            "relay": {"type": "smtp", "host": "127.0.0.1", "port": sink.port},
        },
        routing={"default_provider": "relay"},
        breaker=BREAKER,
    )
    await appliance.start()
    acme = await appliance.tenant("acme")
    resp = await appliance.client.patch("/v1/tenant", json={"routing": routing}, headers=acme.auth)
    assert resp.status_code == 200, resp.text
    return acme


async def send(appliance: Appliance, who: TenantKey, to: str) -> str:
    resp = await appliance.client.post("/v1/messages", json=message(to=[to]), headers=who.auth)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["messageId"])


async def settled(appliance: Appliance, who: TenantKey, message_id: str, *types: str) -> Any:
    """The message once one of its events has one of `types`."""

    async def detail() -> Any:
        body = (await appliance.client.get(f"/v1/messages/{message_id}", headers=who.auth)).json()
        return body if any(e["type"] in types for e in body["events"]) else None

    return await wait_until(detail, timeout=15, message=f"{message_id} reaches {types}")


def attempt_providers(detail: dict[str, Any]) -> list[str]:
    return [
        e["data"]["provider"]
        for e in detail["events"]
        if e["type"] in ("sent", "retry_scheduled", "failed")
    ]


async def open_the_breaker(appliance: Appliance, who: TenantKey, sink: SmtpSink) -> None:
    sink.set_rcpt_rule(lambda address, attempt: "421 4.3.2 service not available")
    for i in range(3):
        detail = await settled(
            appliance, who, await send(appliance, who, f"p{i}@example.org"), "retry_scheduled"
        )
        assert attempt_providers(detail) == ["relay"]


async def test_open_breaker_sends_through_the_tenant_fallback(
    appliance: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await start_with_relay(
        appliance, smtp_sink, primaryProvider="relay", fallbackProvider="outbox"
    )
    await open_the_breaker(appliance, acme, smtp_sink)

    detail = await settled(appliance, acme, await send(appliance, acme, "q@example.org"), "sent")

    assert detail["status"] == "sent"
    assert detail["provider"] == "outbox"
    assert attempt_providers(detail) == ["outbox"]
    assert smtp_sink.rcpt_attempts("q@example.org") == 0


async def test_breaker_state_shows_in_ready_and_metrics(
    appliance: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await start_with_relay(
        appliance, smtp_sink, primaryProvider="relay", fallbackProvider="outbox"
    )
    ready = (await appliance.client.get("/ready")).json()
    assert ready["checks"]["providers"]["relay"] == "closed"

    await open_the_breaker(appliance, acme, smtp_sink)

    ready = await appliance.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["providers"] == {"outbox": "closed", "relay": "open"}
    metrics = (await appliance.client.get("/metrics")).text
    assert 'iep_provider_circuit_state{provider="relay"} 1.0' in metrics
    assert 'iep_provider_circuit_state{provider="outbox"} 0.0' in metrics


async def test_after_the_cooldown_one_trial_goes_to_the_primary_and_closes_it(
    appliance: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await start_with_relay(
        appliance, smtp_sink, primaryProvider="relay", fallbackProvider="outbox"
    )
    await open_the_breaker(appliance, acme, smtp_sink)
    smtp_sink.set_rcpt_rule(None)  # the relay has recovered
    appliance.clock.advance(29)
    early = await settled(appliance, acme, await send(appliance, acme, "e@example.org"), "sent")
    assert early["provider"] == "outbox"

    appliance.clock.advance(2)
    trial = await settled(appliance, acme, await send(appliance, acme, "t@example.org"), "sent")

    assert trial["provider"] == "relay"
    assert attempt_providers(trial) == ["relay"]
    assert [r.rcpt_tos for r in smtp_sink.received] == [("t@example.org",)]
    ready = (await appliance.client.get("/ready")).json()
    assert ready["checks"]["providers"]["relay"] == "closed"


async def test_a_failed_trial_opens_the_breaker_again(
    appliance: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await start_with_relay(
        appliance, smtp_sink, primaryProvider="relay", fallbackProvider="outbox"
    )
    await open_the_breaker(appliance, acme, smtp_sink)
    appliance.clock.advance(31)

    trial = await settled(
        appliance, acme, await send(appliance, acme, "t@example.org"), "retry_scheduled"
    )
    after = await settled(appliance, acme, await send(appliance, acme, "u@example.org"), "sent")

    assert attempt_providers(trial) == ["relay"]
    assert after["provider"] == "outbox"
    assert (await appliance.client.get("/ready")).json()["checks"]["providers"]["relay"] == "open"


async def test_without_any_fallback_an_open_breaker_defers_without_spending_an_attempt(
    appliance: Appliance, smtp_sink: SmtpSink
) -> None:
    acme = await start_with_relay(appliance, smtp_sink, primaryProvider="relay")
    await open_the_breaker(appliance, acme, smtp_sink)

    message_id = await send(appliance, acme, "w@example.org")

    async def deferred() -> Any:
        body = (await appliance.client.get(f"/v1/messages/{message_id}", headers=acme.auth)).json()
        return body if body["lastError"] and "circuit open" in body["lastError"] else None

    detail = await wait_until(deferred, timeout=15, message="the send is deferred")
    assert detail["status"] == "queued"
    assert detail["attempts"] == 0
    assert "no attempt spent" in detail["lastError"]
    assert attempt_providers(detail) == []
    assert smtp_sink.rcpt_attempts("w@example.org") == 0
