"""Crash safety and graceful stop of the real `iep serve` process under delivery load.

The server delivers to the in-test aiosmtpd sink, slowed to ~20 ms per message over 4
connections, so hundreds of accepted messages are in flight when the process is killed
(SIGKILL, no shutdown code) or stopped (SIGTERM). After a restart every message that got a
202 must reach the sink at least once, counted by `X-IEP-Message-Id`.
"""

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

SINK_DELAY = 0.02
GRACE = 10.0


def start_server(tmp_path: Path, sink: SmtpSink, grace: float = GRACE) -> ServerProcess:
    port = free_port()
    config = write_config(
        tmp_path,
        port,
        delivery={
            "concurrency": 4,
            "retry_schedule": [1, 1, 1],
            "shutdown_grace_seconds": grace,
        },
        providers={
            "relay": {
                "type": "smtp",
                "host": "127.0.0.1",
                "port": sink.port,
                "connections": 4,
                "timeout_seconds": 10,
            }
        },
        routing={"default_provider": "relay"},
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


async def post_messages(
    base_url: str, key: str, n: int, accepted: list[str], concurrency: int = 16
) -> None:
    """POST n messages with `concurrency` workers; ids answered 202 go into `accepted`.

    A request that fails (the server went away) is not accepted: it is simply dropped.
    """
    counter = iter(range(n))

    async def worker(client: httpx.AsyncClient) -> None:
        for i in counter:
            body = {
                "to": [f"user{i}@example.org"],
                "from": {"email": "noreply@example.com", "name": "Load"},
                "subject": "Message {{n}}",
                "htmlBody": "<p>Hello {{name}}, this is message {{n}}.</p>",
                "textBody": "Hello {{name}}, this is message {{n}}.",
                "variables": {"name": "Ada", "n": i},
            }
            try:
                resp = await client.post("/v1/messages", json=body)
            except httpx.HTTPError:
                continue
            if resp.status_code == 202:
                accepted.append(resp.json()["messageId"])

    async with httpx.AsyncClient(
        base_url=base_url, headers={"x-api-key": key}, timeout=30, trust_env=False
    ) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))


def delivered_ids(sink: SmtpSink) -> dict[str, int]:
    return sink.by_iep_id()


async def test_sigkill_with_messages_in_flight_loses_nothing_after_restart(
    tmp_path: Path,
) -> None:
    with SmtpSink(delay=SINK_DELAY) as sink:
        server = start_server(tmp_path, sink)
        try:
            accepted: list[str] = []
            await post_messages(server.base_url, api_key(tmp_path), 300, accepted)
            assert len(accepted) == 300
            await wait_until(lambda: len(sink.received) >= 30, timeout=30)
            server.kill()
            at_kill = len(delivered_ids(sink))
            assert at_kill < len(accepted), "everything was delivered before the kill"

            server.start()
            server.wait_ready()
            await wait_until(
                lambda: set(accepted) <= set(delivered_ids(sink)),
                timeout=120,
                message="every accepted message at the sink",
            )
            counts = delivered_ids(sink)
            duplicates = sum(c - 1 for c in counts.values())
            print(
                f"\nSIGKILL: accepted={len(accepted)} delivered_at_kill={at_kill} "
                f"unique={len(counts)} duplicates={duplicates}"
            )
            assert set(counts) == set(accepted)
        finally:
            server.stop()


async def test_sigterm_under_load_exits_0_within_the_grace_and_loses_nothing(
    tmp_path: Path,
) -> None:
    with SmtpSink(delay=SINK_DELAY) as sink:
        server = start_server(tmp_path, sink)
        try:
            accepted: list[str] = []
            key = api_key(tmp_path)
            posting = asyncio.create_task(post_messages(server.base_url, key, 400, accepted))
            await wait_until(lambda: len(sink.received) >= 30, timeout=30)
            started = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            code = await asyncio.to_thread(server.proc.wait, GRACE + 20)  # type: ignore[union-attr]
            elapsed = time.monotonic() - started
            await posting
            assert code == 0, server.stderr_text()[-3000:]
            assert elapsed <= GRACE, f"stopped after {elapsed:.1f}s"
            assert "delivery.stop.cancelled" not in server.stderr_text()
            at_stop = len(delivered_ids(sink))
            print(
                f"\nSIGTERM: accepted={len(accepted)} delivered_at_stop={at_stop} in {elapsed:.2f}s"
            )
            assert accepted, "nothing was accepted before the stop"

            server.stop()
            server.start()
            server.wait_ready()
            await wait_until(
                lambda: set(accepted) <= set(delivered_ids(sink)),
                timeout=120,
                message="every accepted message at the sink",
            )
            counts = delivered_ids(sink)
            # A graceful stop lets in-flight sends finish and records them: no duplicates.
            assert all(c == 1 for c in counts.values()), {k: c for k, c in counts.items() if c > 1}
        finally:
            server.stop()


async def test_sigterm_with_sends_slower_than_the_grace_releases_them_for_the_restart(
    tmp_path: Path,
) -> None:
    with SmtpSink(delay=5.0) as sink:
        server = start_server(tmp_path, sink, grace=1.0)
        try:
            accepted: list[str] = []
            await post_messages(server.base_url, api_key(tmp_path), 20, accepted)
            assert len(accepted) == 20
            key = api_key(tmp_path)
            async with httpx.AsyncClient(
                base_url=server.base_url, headers={"x-api-key": key}, trust_env=False
            ) as client:

                async def processing() -> bool:
                    resp = await client.get("/v1/messages", params={"status": "processing"})
                    return bool(resp.json()["data"])

                await wait_until(processing, timeout=30, message="sends in flight")
            started = time.monotonic()
            code = server.stop(timeout=30)
            elapsed = time.monotonic() - started
            assert code == 0, server.stderr_text()[-3000:]
            assert elapsed < 1.0 + 8.0, f"stopped after {elapsed:.1f}s"

            sink.set_delay(0.0)
            server.start()
            server.wait_ready()
            await wait_until(
                lambda: set(accepted) <= set(delivered_ids(sink)),
                timeout=60,
                message="every accepted message at the sink",
            )
        finally:
            server.stop()
