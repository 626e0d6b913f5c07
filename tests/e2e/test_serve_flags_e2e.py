"""`iep serve` as the Quick start runs it: no config file (the embedded defaults,
data in ./data), `--host/--port` flags, `IEP_SECTION__KEY` environment overrides, a start-up
line with the URLs of the API, the dashboard and the docs, and the credentials file's path."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


class BareServe(ServerProcess):
    """`iep serve` without --config, with the given extra arguments."""

    def __init__(self, cwd: Path, port: int, *args: str, env: dict[str, str]) -> None:
        super().__init__(cwd / "unused.toml", port, cwd / "logs", env=env, cwd=cwd)
        self.args = args

    def command(self) -> list[str]:
        return [sys.executable, "-m", "iep_appliance", "serve", *self.args, *self.workers_args()]


def test_serve_without_a_config_takes_the_port_flag_and_prints_its_urls(tmp_path: Path) -> None:
    port = free_port()
    server = BareServe(tmp_path, port, "--host", "127.0.0.1", "--port", str(port),
                       env={"IEP_LOGGING__ACCESS_LOG": "false"})  # fmt: skip

    with server, httpx.Client(trust_env=False, timeout=30) as http:
        docs = http.get(f"{server.base_url}/schema/swagger")
        out = server.stdout_text()

    base = f"http://127.0.0.1:{port}"
    assert (
        f"IEP listening on {base} · API {base}/v1 · dashboard {base}/admin/ · "
        f"docs {base}/schema/swagger"
    ) in out
    creds = tmp_path / "data" / "initial-credentials.txt"
    assert f"(also written to {creds})" in out
    assert creds.exists() and (tmp_path / "data" / "iep.db").exists()
    assert docs.status_code == 200


def test_serve_takes_its_port_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    server = BareServe(tmp_path, port, env={"IEP_SERVER__PORT": str(port)})

    with server:
        out = server.stdout_text()

    assert f"IEP listening on http://127.0.0.1:{port} " in out


def test_serve_refuses_a_bad_environment_value_naming_the_key(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "iep_appliance", "serve"],
        cwd=tmp_path,
        env={**os.environ, "IEP_SERVER__PORT": "http"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: server.port: expected `int`, got `str` "
        "(from the environment variable IEP_SERVER__PORT)"
    ]
    assert not (tmp_path / "data").exists()


def test_a_reload_keeps_the_port_flag_instead_of_asking_for_a_restart(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, free_port(), limits={"max_per_minute": 100})
    server = BareServe(tmp_path, port, "--config", str(config), "--port", str(port), env={})

    with server:
        text = config.read_text()
        config.write_text(text.replace("max_per_minute = 100", "max_per_minute = 200"))
        os.kill(server.pid, signal.SIGHUP)
        wait_until_sync(lambda: "config.reloaded" in server.stdout_text(), timeout=20)
        out = server.stdout_text()

    assert "config.reload_needs_restart" not in out
    assert '"applied":["limits.max_per_minute"]' in out.replace(" ", "")
