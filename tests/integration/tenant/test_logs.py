"""Structured logs of a full send: one JSON line per request and per send attempt, carrying
the message id as correlation id, the tenant, provider, duration and outcome, and never the
API key or the message body."""

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from iep_appliance.logs import JsonFormatter
from tests.integration.tenant.conftest import Appliance, message
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until

BODY_TEXT = "the-body-text-4f1d2c must never be logged"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log line at INFO and above, formatted exactly as `iep serve` writes them."""
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


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_a_full_send_logs_the_message_id_and_no_key_or_body(
    appliance: Appliance, smtp_sink: SmtpSink, captured: io.StringIO
) -> None:
    appliance.configure(
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port}},
        routing={"default_provider": "relay"},
    )
    await appliance.start()
    acme = await appliance.tenant("acme")
    body = message(htmlBody=f"<p>{BODY_TEXT}</p>", textBody=BODY_TEXT)

    resp = await appliance.client.post("/v1/messages", json=body, headers=acme.auth)
    message_id = resp.json()["messageId"]

    async def sent() -> bool:  # recorded after the attempt's log line (the sink's 250 is not)
        got = await appliance.client.get(f"/v1/messages/{message_id}", headers=acme.auth)
        return bool(got.json()["status"] == "sent")

    await wait_until(sent, timeout=15, message="message sent")
    assert len(smtp_sink.received) == 1

    logged = lines(captured)
    text = captured.getvalue()
    assert acme.key not in text
    assert acme.key.rsplit("_", 1)[1] not in text
    assert BODY_TEXT not in text
    requests = [r for r in logged if r["event"] == "http.request"]
    post = next(r for r in requests if r["method"] == "POST" and r["path"] == "/v1/messages")
    assert post["messageId"] == message_id
    assert post["tenantId"] == acme.tenant_id
    assert post["status"] == 202
    assert isinstance(post["durationMs"], float | int)
    attempts = [r for r in logged if r["event"] == "send.attempt"]
    assert len(attempts) == 1
    attempt = attempts[0]
    assert attempt["messageId"] == message_id
    assert attempt["tenantId"] == acme.tenant_id
    assert attempt["provider"] == "relay"
    assert attempt["outcome"] == "ok"
    assert isinstance(attempt["durationMs"], float | int)


async def test_each_request_logs_its_own_correlation(
    appliance: Appliance, captured: io.StringIO
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    await appliance.client.post("/v1/messages", json=message(), headers=acme.auth)

    await appliance.client.get("/health")

    health = [r for r in lines(captured) if r["event"] == "http.request"][-1]
    assert health["path"] == "/health"
    assert "messageId" not in health and "tenantId" not in health
