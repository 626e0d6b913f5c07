"""The README's examples, run as written: the Quick start is two commands and CI
runs its test command verbatim; the server of its first command (`.venv/bin/iep serve`, no
config file, data in ./data) is started in a fresh directory, and every `sh runnable` block
of the README runs there in order under `bash -euo pipefail`, with `iep` on the PATH. The
only change made to a block is the port: the server listens on a free one instead of 8080
(`IEP_SERVER__PORT`, as the README documents), so parallel test runs do not collide.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import ServerProcess, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
RUNNABLE = re.compile(r"^```sh runnable\n(.*?)^```$", re.S | re.M)


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def quick_start() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", section("Quick start"), re.S)
    assert block, "the Quick start has a sh block"
    return block.group(1).strip().splitlines()


def test_the_quick_start_is_two_commands_that_make_their_own_venv() -> None:
    serve, test = quick_start()

    assert serve.startswith("python3 -m venv .venv && ")
    assert serve.endswith(".venv/bin/iep serve")
    assert test.startswith("python3 -m venv .venv && ")
    assert "pytest" in test


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    _serve, test = quick_start()

    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()

    assert test in ci


class QuickStartServer(ServerProcess):
    """The Quick start's `.venv/bin/iep serve`, in `directory`, on `port`."""

    def __init__(self, directory: Path, port: int) -> None:
        super().__init__(
            directory / "no-config", port, directory / "logs",
            env={"IEP_SERVER__PORT": str(port)}, cwd=directory,
        )  # fmt: skip
        self.directory = directory

    def command(self) -> list[str]:
        return [str(self.directory / ".venv" / "bin" / "iep"), "serve", *self.workers_args()]


def install_iep(directory: Path) -> Path:
    """`.venv/bin/iep` running this checkout with the test's Python (what `pip install .`
    would put there); returns the bin directory."""
    bin_dir = directory / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    shim = bin_dir / "iep"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m iep_appliance "$@"\n')
    shim.chmod(0o755)
    return bin_dir


def test_every_runnable_readme_example_works_against_the_quick_start_server(
    tmp_path: Path,
) -> None:
    blocks = RUNNABLE.findall(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 8, "the README marks its examples `sh runnable`"
    bin_dir = install_iep(tmp_path)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IEP_")},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }

    with QuickStartServer(tmp_path, port) as server:
        assert f"IEP listening on http://127.0.0.1:{port} " in server.stdout_text()
        for number, block in enumerate(blocks, start=1):
            script = block.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, (
                f"README block {number} failed (exit {done.returncode}):\n{block}\n"
                f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
            )
            assert "Traceback" not in done.stderr, done.stderr

    assert (tmp_path / "backups" / "iep-2026-11-25.tar.gz").exists()
    assert (tmp_path / "restored" / "iep.db").exists()
