"""One bad template never stops the appliance (DESIGN §10.1), against the real `iep serve`.

Messages that attack the renderer (`{{x.__class__}}`, four nested `#each` over 100 items) are
accepted, and while they are processed `/health` must keep answering within a deadline; each
ends `failed` with the limit in `lastError`, and a normal message sent after them is
delivered. Variables nested 40 deep (under the JSON guard's 64) are refused at accept
(422 naming `variables`); one
accepted under a looser limit and rendered after a restart with the default ends `failed`.

On main before the fix: the `__class__` message froze the server (`/health` timed out) and
froze it again after a restart; the bomb did the same; the deep variables crashed the sender
in a loop that never ended `failed`.
"""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

HEALTH_DEADLINE = 1.0  # seconds; a frozen event loop answers never
BOMB = (
    "<p>{{#each l}}{{#each ../l}}{{#each ../../l}}{{#each ../../../l}}x"
    "{{/each}}{{/each}}{{/each}}{{/each}}</p>"
)


def start(tmp_path: Path, sink: SmtpSink, **render: Any) -> ServerProcess:
    port = free_port()
    config = write_config(
        tmp_path,
        port,
        delivery={"concurrency": 4, "retry_schedule": [1, 1]},
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": sink.port}},
        routing={"default_provider": "relay"},
        render=render or None,
        logging={"access_log": False},
    )
    server = ServerProcess(config, port, tmp_path / "logs")
    server.start()
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def api_key(tmp_path: Path) -> str:
    text = (tmp_path / "data" / "initial-credentials.txt").read_text()
    return next(line[4:] for line in text.splitlines() if line.startswith("key="))


def body(**overrides: Any) -> dict[str, Any]:
    return {
        "to": ["someone@example.org"],
        "from": {"email": "noreply@example.com"},
        "subject": "Hello",
        "htmlBody": "<p>Hello {{name}}</p>",
        "variables": {"name": "Ada"},
        **overrides,
    }


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


async def accept(client: httpx.AsyncClient, **overrides: Any) -> str:
    resp = await client.post("/v1/messages", json=body(**overrides))
    assert resp.status_code == 202, resp.text
    return resp.json()["messageId"]


async def statuses(client: httpx.AsyncClient, ids: list[str]) -> dict[str, tuple[str, str]]:
    out = {}
    for message_id in ids:
        m = (await client.get(f"/v1/messages/{message_id}")).json()
        out[message_id] = (m["status"], m.get("lastError") or "")
    return out


async def event_types(client: httpx.AsyncClient, message_id: str) -> list[str]:
    m = (await client.get(f"/v1/messages/{message_id}")).json()
    return [e["type"] for e in m["events"]]


async def watch_health(base_url: str, stop: asyncio.Event) -> list[float]:
    """GET /health over and over until `stop`; the latency of each answer (raises on none)."""
    latencies = []
    async with httpx.AsyncClient(base_url=base_url, trust_env=False) as client:
        while not stop.is_set():
            started = time.monotonic()
            resp = await client.get("/health", timeout=HEALTH_DEADLINE * 5)
            latencies.append(time.monotonic() - started)
            assert resp.status_code == 200
            await asyncio.sleep(0.02)
    return latencies


async def test_renderer_attacks_fail_their_message_and_nothing_else(tmp_path: Path) -> None:
    with SmtpSink() as sink:
        server = start(tmp_path, sink)
        try:
            headers = {"x-api-key": api_key(tmp_path)}
            async with httpx.AsyncClient(
                base_url=server.base_url, headers=headers, timeout=30, trust_env=False
            ) as client:
                deep = await client.post(
                    "/v1/messages", json=body(subject="{{x.a}}", variables={"x": nested(40)})
                )
                assert deep.status_code == 422, deep.text
                assert [e["field"] for e in deep.json()["errors"]] == ["variables"]

                stop = asyncio.Event()
                health = asyncio.create_task(watch_health(server.base_url, stop))
                attribute = await accept(
                    client, htmlBody="<p>{{x.__class__}}</p>", variables={"x": "s"}
                )
                bombs = [
                    await accept(client, htmlBody=BOMB, variables={"l": list(range(100))})
                    for _ in range(6)
                ]

                async def bombs_failed() -> bool:
                    found = await statuses(client, bombs)
                    return all(status == "failed" for status, _ in found.values())

                await wait_until(bombs_failed, timeout=60, message="the bombs failed")
                stop.set()
                latencies = await health
                normal = await accept(client, subject="After {{name}}")
                await wait_until(lambda: normal in sink.by_iep_id(), timeout=30)

                found = await statuses(client, [attribute, *bombs])
                # `{{x.__class__}}` resolves nothing: the message is sent, with an empty <p>
                assert found[attribute][0] == "sent", found[attribute]
                for message_id in bombs:
                    assert found[message_id] == (
                        "failed",
                        "render limit: max_steps 100000 exceeded",
                    )
                    kinds = await event_types(client, message_id)
                    assert kinds.count("processing") == 1, kinds  # no retry wasted
                sent = sink.by_iep_id()
                assert attribute in sent and not set(bombs) & set(sent)
            assert len(latencies) >= 3
            assert max(latencies) < HEALTH_DEADLINE, latencies
        finally:
            server.stop()


async def test_variables_too_deep_for_the_render_limit_fail_at_send(tmp_path: Path) -> None:
    """A message accepted under a looser `max_variable_depth` and rendered under a stricter
    one (a config change) fails naming the limit; the next message is delivered."""
    with SmtpSink() as sink:
        server = start(tmp_path, sink, max_variable_depth=256)
        try:
            headers = {"x-api-key": api_key(tmp_path)}
            async with httpx.AsyncClient(
                base_url=server.base_url, headers=headers, timeout=30, trust_env=False
            ) as client:
                later = (datetime.now(UTC) + timedelta(seconds=4)).isoformat()
                deep = await accept(
                    client, subject="{{x.a}}", variables={"x": nested(50)}, scheduledAt=later
                )
            server.stop()
            write_config(
                tmp_path,
                server.port,
                delivery={"concurrency": 4, "retry_schedule": [1, 1]},
                providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": sink.port}},
                routing={"default_provider": "relay"},
                logging={"access_log": False},
            )
            server.start()
            server.wait_ready()
            async with httpx.AsyncClient(
                base_url=server.base_url, headers=headers, timeout=30, trust_env=False
            ) as client:

                async def failed() -> tuple[str, str] | None:
                    found = (await statuses(client, [deep]))[deep]
                    return found if found[0] == "failed" else None

                found = await wait_until(failed, timeout=30, message="the deep message failed")
                assert found[1] == "render limit: max_variable_depth 32 exceeded"
                normal = await accept(client)
                await wait_until(lambda: normal in sink.by_iep_id(), timeout=30)
        finally:
            server.stop()
