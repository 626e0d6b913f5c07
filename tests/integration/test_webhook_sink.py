"""The webhook sink records every request and answers scripted statuses, then 200."""

import httpx
import pytest

from tests.support.waiting import wait_until, wait_until_sync
from tests.support.webhook_sink import WebhookSink


async def test_records_method_path_lowercase_headers_and_body(webhook_sink: WebhookSink) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(
            webhook_sink.url("/hooks/a?x=1"),
            content=b'{"event":"message.sent"}',
            headers={"Content-Type": "application/json", "X-IEP-Signature": "sha256=ab"},
        )

    assert response.status_code == 200
    [request] = await wait_until(lambda: webhook_sink.requests)
    assert (request.method, request.path) == ("POST", "/hooks/a?x=1")
    assert request.headers["x-iep-signature"] == "sha256=ab"
    assert request.headers["content-type"] == "application/json"
    assert request.body == b'{"event":"message.sent"}'
    assert request.json() == {"event": "message.sent"}


async def test_scripted_statuses_are_consumed_per_request_then_200() -> None:
    with WebhookSink(statuses=[500, 503]) as sink:
        async with httpx.AsyncClient(trust_env=False) as client:
            codes = [(await client.post(sink.url(), json={"n": n})).status_code for n in range(4)]

        assert codes == [500, 503, 200, 200]
        assert [r.json()["n"] for r in sink.requests] == [0, 1, 2, 3]


def test_script_and_reset_work_from_sync_code(webhook_sink: WebhookSink) -> None:
    webhook_sink.script(410)
    with httpx.Client(trust_env=False) as client:
        assert client.put(webhook_sink.url("/x"), content=b"").status_code == 410
        webhook_sink.reset()
        assert client.delete(webhook_sink.url("/y")).status_code == 200

    wait_until_sync(lambda: len(webhook_sink.requests) == 1, timeout=5)
    [request] = webhook_sink.requests
    assert (request.method, request.body) == ("DELETE", b"")


def test_delay_makes_a_client_time_out(webhook_sink: WebhookSink) -> None:
    webhook_sink.set_delay(1.0)

    with httpx.Client(trust_env=False) as client, pytest.raises(httpx.ReadTimeout):
        client.post(webhook_sink.url(), json={}, timeout=0.1)

    assert len(webhook_sink.requests) == 1


def test_stop_closes_kept_alive_connections_and_frees_the_port() -> None:
    sink = WebhookSink().start()
    port = sink.port
    assert sink._server is not None
    listener = sink._server.socket
    with httpx.Client(trust_env=False) as client:
        assert client.get(sink.url("/a")).status_code == 200  # leaves a keep-alive connection
        sink.stop()
        with pytest.raises(httpx.TransportError):
            client.get(f"http://127.0.0.1:{port}/b", timeout=2)

    # The listening socket is closed, so the port is free. (Re-binding it would race with
    # other xdist workers, which may be handed the same ephemeral port once it is free.)
    assert listener.fileno() == -1
