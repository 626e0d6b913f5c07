"""The CLI's side of the audit log: each changing command records itself (actor
`cli`), `iep audit export` prints JSON lines with --tenant/--from/--to and a count on stderr."""

import json
import subprocess
import sys
from pathlib import Path

from tests.support.procs import free_port, write_config


def iep(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iep_appliance", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_commands_are_audited_and_exported_as_json_lines(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port())
    for args in (
        ("tenant", "create", "--name", "Acme", "--slug", "acme", "--domain", "acme.test"),
        ("tenant", "create", "--name", "Beta", "--slug", "beta"),
        ("key", "create", "--tenant", "acme", "--name", "deploy"),
        ("key", "list", "--tenant", "acme"),  # a read: no entry
    ):
        done = iep(config, *args)
        assert done.returncode == 0, done.stderr

    everything = iep(config, "audit", "export")
    assert everything.returncode == 0, everything.stderr
    lines = [json.loads(line) for line in everything.stdout.splitlines()]
    assert [e["action"] for e in lines] == ["api_key.created", "tenant.created", "tenant.created"]
    assert all(e["actor"]["type"] == "cli" for e in lines)
    assert lines[0]["actor"]["name"] == "iep key create"
    assert "exported 3 entries" in everything.stderr

    acme = iep(config, "audit", "export", "--tenant", "acme")
    assert [json.loads(x)["action"] for x in acme.stdout.splitlines()] == [
        "api_key.created",
        "tenant.created",
    ]
    none = iep(config, "audit", "export", "--from", "2999-01-01T00:00:00Z")
    assert none.stdout == "" and "exported 0 entries" in none.stderr

    bad = iep(config, "audit", "export", "--from", "soon")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: from:"), bad.stderr
    missing = iep(config, "audit", "export", "--tenant", "nope")
    assert missing.returncode == 3
