"""Smoke test of the one-file binary built by `scripts/build` (PyInstaller).

The module fixture builds `iep` into a temporary dist directory once (1-3 minutes of CPU),
unless $IEP_BINARY names one already built. The test then runs that binary as `iep serve` on
a temp config with the outbox provider (`ServerProcess` runs whatever $IEP_BINARY names),
waits for `/health`, sends a message with the first-start key, reads it back as sent, uses
what only works when the bundle is complete (dashboard templates and static files, the
OpenAPI schema, argon2 through the dashboard login, the nh3-cleaned outbox preview,
/metrics, a cron time zone with the system tz
database hidden, so the bundled `tzdata` answers), reloads it with SIGHUP and stops it with
SIGTERM: exit code 0.
Build time, size and cold start to the first `/health` 200 are printed (`pytest -rP`).
"""

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from iep_appliance import __version__
from tests.support.procs import BINARY_ENV, ServerProcess, free_port, write_config
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]


class Built:
    def __init__(self, path: Path, build_seconds: float | None) -> None:
        self.path = path
        self.build_seconds = build_seconds


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    given = os.environ.get(BINARY_ENV)
    if given:
        yield Built(Path(given), None)
        return
    out = tmp_path_factory.mktemp("binary")
    env = {
        **os.environ,
        # scripts/build runs `python`: the interpreter running the tests, with its packages.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "IEP_DIST": str(out / "dist"),
        "IEP_BUILD_DIR": str(out / "build"),
    }
    started = time.monotonic()
    done = subprocess.run(
        [str(ROOT / "scripts" / "build")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    seconds = time.monotonic() - started
    assert done.returncode == 0, (
        f"scripts/build failed:\n{done.stdout[-5000:]}\n{done.stderr[-5000:]}"
    )
    yield Built(out / "dist" / "iep", seconds)


def first_start_key(data_dir: Path) -> str:
    text = (data_dir / "initial-credentials.txt").read_text()
    return next(line[4:] for line in text.splitlines() if line.startswith("key="))


def admin_password(data_dir: Path) -> str:
    text = (data_dir / "initial-credentials.txt").read_text()
    return next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith("admin_p"))


def test_binary_serves_sends_through_outbox_and_stops_cleanly_on_sigterm(
    binary: Built,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    version = subprocess.run(
        [str(binary.path), "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert version.stdout.strip() == f"iep {__version__}"

    monkeypatch.setenv(BINARY_ENV, str(binary.path))
    port = free_port()
    config = write_config(tmp_path, port, logging={"access_log": False})
    server = ServerProcess(
        config,
        port,
        tmp_path / "logs",
        env={"PYTHONTZPATH": str(tmp_path / "no-system-zoneinfo")},
        cwd=tmp_path,
    )
    assert server.command()[0] == str(binary.path)
    started = time.monotonic()
    server.start()
    try:
        server.wait_ready(timeout=60, path="/health")
        cold_start = time.monotonic() - started
        server.wait_ready(timeout=30)
        with httpx.Client(base_url=server.base_url, trust_env=False, timeout=30) as http:
            health = http.get("/health").json()
            assert health == {"status": "ok", "version": __version__}

            key = {"x-api-key": first_start_key(tmp_path / "data")}
            sent = http.post(
                "/v1/messages",
                headers=key,
                json={
                    "to": ["ada@example.org"],
                    "from": {"email": "noreply@example.com", "name": "Binary"},
                    "subject": "Hello {{name}}",
                    "htmlBody": "<p>Hello {{name}}</p>",
                    "variables": {"name": "Ada"},
                },
            )
            assert sent.status_code == 202, sent.text
            message_id = sent.json()["messageId"]
            found = wait_until_sync(
                lambda: (
                    (m := http.get(f"/v1/messages/{message_id}", headers=key).json())["status"]
                    == "sent"
                    and m
                ),
                timeout=30,
                message="message not sent through the outbox",
            )
            assert found["provider"] == "outbox"
            assert found["subject"] == "Hello Ada"

            zoned = http.post(
                "/v1/scheduled-jobs",
                headers=key,
                json={
                    "name": "digest",
                    "cron": "0 9 * * *",
                    "timezone": "America/New_York",
                    "message": {
                        "to": ["ada@example.org"],
                        "from": {"email": "noreply@example.com", "name": "Binary"},
                        "subject": "Digest",
                        "htmlBody": "<p>digest</p>",
                    },
                },
            )
            assert zoned.status_code == 201, zoned.text
            assert zoned.json()["nextRunAt"].endswith(("T13:00:00.000Z", "T14:00:00.000Z"))

            assert http.get("/schema/openapi.json").status_code == 200
            login_page = http.get("/admin/login")
            assert login_page.status_code == 200
            css = re.search(r'href="([^"]+\.css[^"]*)"', login_page.text)
            assert css, login_page.text[:500]
            assert http.get(css.group(1)).status_code == 200
            fields = dict(re.findall(r'name="([^"]+)"\s+value="([^"]*)"', login_page.text))
            login = http.post(
                "/admin/login",
                data={
                    **fields,
                    "email": "admin@example.com",
                    "password": admin_password(tmp_path / "data"),
                },
            )
            assert login.status_code == 303, login.text[:500]
            assert http.get("/admin/outbox").status_code == 200
            preview = http.get(f"/admin/outbox/{message_id}")  # nh3 cleans the HTML
            assert preview.status_code == 200 and "Hello Ada" in preview.text
            assert "iep_jobs_claimed_total" in http.get("/metrics").text

            os.kill(server.pid, signal.SIGHUP)  # the bootloader passes it on: a reload
            wait_until_sync(
                lambda: '"event":"config.reloaded"' in server.stdout_text(),
                timeout=30,
                message="SIGHUP did not reload the config",
            )
            assert http.get("/health").status_code == 200
    finally:
        code = server.stop()
    assert code == 0, server.stderr_text()[-5000:]
    assert '"event":"runtime.stopped"' in server.stdout_text()
    built = f", built in {binary.build_seconds:.0f} s" if binary.build_seconds else ""
    print(  # the figures for the closing note; shown with `pytest -rP`
        f"binary {binary.path}: {binary.path.stat().st_size / 2**20:.1f} MiB{built}, "
        f"cold start to the first /health 200: {cold_start:.2f} s"
    )


def test_binary_runs_two_workers_that_send_and_stop_cleanly(
    binary: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19: the supervisor starts its workers as the binary itself (`sys.executable`)."""
    monkeypatch.setenv(BINARY_ENV, str(binary.path))
    port = free_port()
    config = write_config(tmp_path, port, logging={"access_log": False})
    server = ServerProcess(config, port, tmp_path / "logs", cwd=tmp_path, workers=2)
    server.start()
    try:
        server.wait_ready(timeout=120)
        # /ready answers once a worker serves; the supervisor says when both do.
        wait_until_sync(
            lambda: '"event":"supervisor.ready"' in server.stdout_text(),
            timeout=60,
            message="both workers ready",
        )
        with httpx.Client(base_url=server.base_url, trust_env=False, timeout=30) as http:
            key = {"x-api-key": first_start_key(tmp_path / "data")}
            ids = []
            for _ in range(20):
                sent = http.post(
                    "/v1/messages",
                    headers=key,
                    json={"to": ["ada@example.org"], "from": "a@example.com", "subject": "s",
                          "textBody": "t"},
                )  # fmt: skip
                assert sent.status_code == 202, sent.text
                ids.append(sent.json()["messageId"])
            wait_until_sync(
                lambda: all(
                    http.get(f"/v1/messages/{i}", headers=key).json()["status"] == "sent"
                    for i in ids
                ),
                timeout=30,
                message="messages not sent by the binary's workers",
            )
            assert "iep_jobs_claimed_total" in http.get("/metrics").text
    finally:
        code = server.stop()
    assert code == 0, server.stderr_text()[-5000:]
    assert server.stdout_text().count('"event":"runtime.stopped"') == 2
