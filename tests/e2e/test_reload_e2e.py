"""SIGHUP reloads the config of the real `iep serve` process (reload.py).

Two aiosmtpd sinks stand for the old and the new relay. The test rewrites iep.toml in place,
sends SIGHUP to the process and waits for the reload's log line on its stdout; the process
must keep running and serving throughout.
"""

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def relay(port: int) -> dict[str, Any]:
    return {"relay": {"type": "smtp", "host": "127.0.0.1", "port": port, "timeout_seconds": 10}}


class Running:
    def __init__(self, tmp_path: Path, relay_port: int) -> None:
        self.tmp_path = tmp_path
        self.port = free_port()
        self.sections: dict[str, Any] = {
            "providers": relay(relay_port),
            "routing": {"default_provider": "relay"},
            "logging": {"access_log": False},
        }
        self.config = write_config(tmp_path, self.port, **self.sections)
        self.server = ServerProcess(self.config, self.port, tmp_path / "logs")
        self.http = httpx.Client(base_url=self.server.base_url, trust_env=False, timeout=30)

    def key(self) -> dict[str, str]:
        text = (self.tmp_path / "data" / "initial-credentials.txt").read_text()
        return {"x-api-key": next(x[4:] for x in text.splitlines() if x.startswith("key="))}

    def rewrite(self, **sections: Any) -> None:
        write_config(self.tmp_path, self.port, **{**self.sections, **sections})

    def sighup(self) -> None:
        os.kill(self.server.pid, signal.SIGHUP)

    def log_events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in self.server.stdout_text().splitlines():
            if line.startswith("{") and f'"event":"{name}"' in line:
                found.append(json.loads(line))
        return found

    def wait_for_event(self, name: str) -> dict[str, Any]:
        return wait_until_sync(
            lambda: self.log_events(name),
            timeout=20,
            message=f"no {name} log line; stdout:\n{self.server.stdout_text()[-3000:]}",
        )[-1]

    def send(self, to: str) -> str:
        resp = self.http.post(
            "/v1/messages",
            headers=self.key(),
            json={
                "to": [to],
                "from": {"email": "noreply@example.com", "name": "Reload"},
                "subject": "Hello",
                "htmlBody": "<p>Hello</p>",
            },
        )
        assert resp.status_code == 202, resp.text
        return resp.json()["messageId"]


@pytest.fixture
def sinks() -> Iterator[tuple[SmtpSink, SmtpSink]]:
    with SmtpSink() as old, SmtpSink() as new:
        yield old, new


@pytest.fixture
def running(tmp_path: Path, sinks: tuple[SmtpSink, SmtpSink]) -> Iterator[Running]:
    r = Running(tmp_path, sinks[0].port)
    r.server.start()
    try:
        r.server.wait_ready()
        yield r
    finally:
        r.http.close()
        assert r.server.stop() == 0


def test_sighup_sends_the_next_message_to_the_relay_the_new_config_names(
    running: Running, sinks: tuple[SmtpSink, SmtpSink]
) -> None:
    old, new = sinks
    running.send("first@example.org")
    wait_until_sync(lambda: len(old.received) == 1, timeout=20)

    running.rewrite(providers=relay(new.port))
    running.sighup()
    reloaded = running.wait_for_event("config.reloaded")

    assert reloaded["applied"] == ["providers.relay.port"]
    running.send("second@example.org")
    wait_until_sync(lambda: len(new.received) == 1, timeout=20)
    assert new.received[0].rcpt_tos == ("second@example.org",)
    assert len(old.received) == 1
    running.wait_for_event("providers.retired")
    assert running.server.is_running()


def test_sighup_with_an_invalid_config_keeps_the_old_one_and_logs_an_error(
    running: Running, sinks: tuple[SmtpSink, SmtpSink]
) -> None:
    old, new = sinks
    running.rewrite(providers=relay(new.port), routing={"default_provider": "missing"})
    running.sighup()

    failed = running.wait_for_event("config.reload_failed")

    assert failed["level"] == "error"
    assert any(p.startswith("routing.default_provider") for p in failed["problems"])
    assert running.server.is_running()
    running.send("after@example.org")
    wait_until_sync(lambda: len(old.received) == 1, timeout=20)
    assert new.received == []
    assert running.log_events("config.reloaded") == []


def test_sighup_keeps_restart_only_keys_and_names_them_in_a_warning(running: Running) -> None:
    other_port = free_port()
    write_config(
        running.tmp_path,
        other_port,
        **running.sections,
        delivery={"concurrency": 3},
        limits={"max_per_day": 1000},
    )
    running.sighup()

    warned = running.wait_for_event("config.reload_needs_restart")
    reloaded = running.wait_for_event("config.reloaded")

    assert warned["level"] == "warning"
    assert warned["keys"] == ["delivery.concurrency", "server.port"]
    assert reloaded["applied"] == ["limits.max_per_day"]
    assert running.http.get("/health").status_code == 200  # still on the old port
