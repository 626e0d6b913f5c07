"""packaging/: the systemd unit and the pins the binary build uses.

`systemd-analyze verify` checks the unit where systemd is installed (skipped otherwise, with
the reason); the unit is also parsed here so its hardening is pinned either way.
"""

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging" / "iep.service"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def unit_entries() -> dict[str, list[tuple[str, str]]]:
    """Section -> (key, value) in file order; systemd allows a key more than once."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"not a unit line: {raw!r}"
        current.append((key.strip(), value.strip()))
    return sections


def service() -> dict[str, str]:
    """[Service] keys, with repeated ones joined by a space (as systemd merges most lists)."""
    out: dict[str, str] = {}
    for key, value in unit_entries()["Service"]:
        out[key] = f"{out[key]} {value}".strip() if key in out and value else value
    return out


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed")
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    # verify also checks that ExecStart's program exists: point it at a stand-in.
    stand_in = tmp_path / "iep"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    unit = tmp_path / "iep.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/iep", str(stand_in)))

    done = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )

    # verify exits 0 on unknown keys and bad values too; it names them on stderr.
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if "iep.service" in line] == []


def test_systemd_unit_runs_the_binary_unprivileged_with_reload_on_sighup() -> None:
    svc = service()

    assert svc["User"] == "iep" and svc["Group"] == "iep"
    assert re.fullmatch(r"/\S+/iep serve --config /\S+\.toml", svc["ExecStart"])
    assert svc["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert svc["KillSignal"] == "SIGTERM"
    assert float(svc["TimeoutStopSec"]) > 30  # above delivery.shutdown_grace_seconds' default
    assert unit_entries()["Install"] == [("WantedBy", "multi-user.target")]


def test_systemd_unit_is_hardened() -> None:
    svc = service()

    assert svc["NoNewPrivileges"] == "true"
    assert svc["ProtectSystem"] == "strict"
    assert svc["ReadWritePaths"] == "/var/lib/iep"
    assert svc["WorkingDirectory"] == "/var/lib/iep"
    assert svc["ProtectHome"] == "true"
    assert svc["PrivateTmp"] == "true"
    assert svc["PrivateDevices"] == "true"
    assert svc["CapabilityBoundingSet"] == ""
    assert svc["AmbientCapabilities"] == ""
    assert set(svc["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert svc["SystemCallFilter"].startswith("@system-service")
    assert "~@privileged" in svc["SystemCallFilter"]
    assert int(svc["LimitNOFILE"]) >= 65536


def test_build_script_installs_the_pins_of_the_build_extra() -> None:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    script = (ROOT / "scripts" / "build").read_text()
    version = re.search(r"^PYINSTALLER=(\S+)$", script, re.M)
    assert version is not None
    script = script.replace("$PYINSTALLER", version.group(1))
    pinned = set(re.findall(r'"([A-Za-z0-9_.-]+==[^"]+)"', script))

    assert pinned == set(extra["build"])
    assert set(extra["build"]) <= set(extra["test"])  # the e2e test builds the binary
