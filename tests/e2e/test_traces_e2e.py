"""OpenTelemetry traces from the real `iep serve` to a local OTLP/HTTP receiver
that decodes the protobuf: a send with a `traceparent` is one trace from the HTTP request
through its commit to the delivery attempt (render, provider) read back from the job table;
the webhook POST of its `message.sent` continues that trace, the claim is a span too; log
lines carry the `traceId`. With
`otlp_endpoint` empty the server does not even import the SDK or the tracing API (Litestar
alone imports `opentelemetry.semconv` when the package is installed)."""

import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_dashboard_browser import credentials
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.waiting import wait_until_sync
from tests.support.webhook_sink import WebhookSink

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
BODY = {
    "to": ["ada@example.org"],
    "from": {"email": "noreply@example.com"},
    "subject": "Traced",
    "htmlBody": "<p>Hello {{name}}</p>",
    "variables": {"name": "Ada"},
}


def test_a_send_is_one_trace_from_request_to_provider(
    tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    port = free_port()
    with OtlpReceiver() as otlp:
        config = write_config(
            tmp_path,
            port,
            telemetry={"otlp_endpoint": otlp.url, "service_name": "iep-test"},
            webhooks={"allow_private_networks": True},
        )
        with ServerProcess(config, port, tmp_path / "logs") as server:
            key = credentials(server.stdout_text())["key"]
            headers = {"x-api-key": key}
            with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as client:
                hook = client.post(
                    "/v1/webhooks",
                    json={"url": webhook_sink.url(), "events": ["message.sent"]},
                    headers=headers,
                )
                assert hook.status_code == 201, hook.text
                sent = client.post(
                    "/v1/messages", json=BODY, headers={**headers, "traceparent": TRACEPARENT}
                )
                assert sent.status_code == 202, sent.text

                def names() -> set[str]:
                    return {s.name for s in otlp.spans() if s.trace_id == TRACE_ID}

                wanted = {"HTTP POST /v1/messages", "store.commit", "message.send", "render",
                          "provider.send", "webhook.deliver"}  # fmt: skip
                wait_until_sync(lambda: wanted <= names(), timeout=30, message="the send trace")
                wait_until_sync(
                    lambda: "jobs.claim" in {s.name for s in otlp.spans()},
                    timeout=30,
                    message="a claim span",
                )
            logs = server.stdout_text()
        spans = {s.name: s for s in otlp.spans() if s.trace_id == TRACE_ID}

    http_span = spans["HTTP POST /v1/messages"]
    assert http_span.parent_id == "00f067aa0ba902b7"  # the caller's traceparent is the parent
    assert http_span.service == "iep-test"
    assert http_span.attributes["http.response.status_code"] == 202
    assert spans["store.commit"].parent_id == http_span.span_id
    # the send, seconds later in another task, continues from the commit (jobs.traceparent)
    assert spans["message.send"].parent_id == spans["store.commit"].span_id
    assert spans["render"].parent_id == spans["message.send"].span_id
    assert spans["provider.send"].parent_id == spans["message.send"].span_id
    assert spans["provider.send"].attributes["iep.provider"] == "outbox"
    # the message.sent webhook (another job, another task) continues the send's trace
    assert spans["webhook.deliver"].parent_id == spans["message.send"].span_id
    assert spans["webhook.deliver"].attributes["http.response.status_code"] == 200
    traced = [json.loads(line) for line in logs.splitlines() if TRACE_ID in line]
    assert any(line.get("traceId") == TRACE_ID for line in traced), "no log line with traceId"


def test_with_tracing_off_the_sdk_is_not_imported(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = write_config(tmp_path, free_port())
    probe = (
        "import sys, asyncio\n"
        "from iep_appliance.config import load\n"
        "from iep_appliance.runtime import Runtime\n"
        "from iep_appliance.app import build_app\n"
        f"rt = Runtime(load({str(config)!r}))\n"
        "build_app(rt)\n"
        "sdk = ('opentelemetry.sdk', 'opentelemetry.exporter', 'opentelemetry.trace')\n"
        "print(sorted(m for m in sys.modules if m.startswith(sdk)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
