"""Logs of the real `iep serve`: JSON lines on stdout at the level `[logging] level` sets,
one per request and per send attempt, correlated by message id, with no key or body.

The tenant and key are made with the CLI before the first serve, so the server prints no
first-start credentials and the only way the key could reach stdout is a log line.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

BODY_TEXT = "e2e-body-text-91ac never in logs"


def cli(config: Path, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "iep_appliance", *args, "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


def json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def send_and_wait(server: ServerProcess, key: str) -> str:
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as client:
        body = {
            "to": ["ada@example.org"],
            "from": {"email": "noreply@example.com"},
            "subject": "Hi",
            "htmlBody": f"<p>{BODY_TEXT}</p>",
        }
        resp = client.post("/v1/messages", json=body, headers={"x-api-key": key})
        assert resp.status_code == 202, resp.text
        message_id = str(resp.json()["messageId"])

        def sent() -> bool:
            got = client.get(f"/v1/messages/{message_id}", headers={"x-api-key": key})
            return got.json()["status"] == "sent"

        wait_until_sync(sent, timeout=20, message="message sent")
    return message_id


def test_serve_logs_requests_and_attempts_at_the_configured_level(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port, logging={"level": "INFO", "access_log": True})
    tenant = cli(
        config, "tenant", "create", "--name", "Acme", "--slug", "acme", "--domain", "example.com"
    )
    key = cli(config, "key", "create", "--tenant", "acme")["key"]

    with ServerProcess(config, port, tmp_path / "logs") as server:
        message_id = send_and_wait(server, key)
        server.stop()
        stdout = server.stdout_text()

    assert key not in stdout and key not in server.stderr_text()
    assert BODY_TEXT not in stdout
    logged = json_lines(stdout)
    post = next(r for r in logged if r.get("event") == "http.request" and r.get("method") == "POST")
    assert post["messageId"] == message_id
    assert post["tenantId"] == tenant["id"]
    attempt = next(r for r in logged if r.get("event") == "send.attempt")
    assert attempt["messageId"] == message_id
    assert attempt["tenantId"] == tenant["id"]
    assert attempt["provider"] == "outbox"
    assert attempt["outcome"] == "ok"

    write_config(tmp_path, port, logging={"level": "WARNING", "access_log": True})
    with ServerProcess(config, port, tmp_path / "logs") as server:
        send_and_wait(server, key)
        server.stop()
        quiet = json_lines(server.stdout_text())

    assert [r for r in quiet if r.get("level") in ("info", "debug")] == []
