"""No file of the appliance is readable by "other" (DESIGN §10.1), whatever the umask: the
real `iep serve` and `iep backup`/`iep restore` run under umask 000, and every file and
directory in the data directory (the database, its -wal and -shm, attachments, the
first-start credentials), the backup archive and every member inside it, and everything a
restore places, has no permission bit for "other"."""

import os
import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.store_sql import sqlite_only
from tests.support.waiting import wait_until_sync

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    sqlite_only("the modes of iep.db, its -wal and -shm, and of its backup"),
]


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 000 for this process and the processes it starts (restored after)."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def iep(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "iep_appliance", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def open_to_other(root: Path) -> list[str]:
    """Every path at or under `root` with a permission bit for "other", with its mode."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o007:
            found.append(f"{path.relative_to(root.parent)} {oct(mode)}")
    return found


def test_data_dir_backup_and_restore_have_no_permission_for_other(
    tmp_path: Path, open_umask: None
) -> None:
    port = free_port()
    config = write_config(tmp_path, port)
    data = tmp_path / "data"
    archive = tmp_path / "backups" / "appliance.tar.gz"
    with ServerProcess(config, port, tmp_path / "logs") as server:
        key = next(
            line[4:]
            for line in (data / "initial-credentials.txt").read_text().splitlines()
            if line.startswith("key=")
        )
        resp = httpx.post(
            f"{server.base_url}/v1/messages",
            headers={"x-api-key": key},
            json={
                "to": ["ada@example.org"],
                "from": {"email": "noreply@example.com"},
                "subject": "Private",
                "htmlBody": "<p>Private</p>",
                "attachments": [
                    {"filename": "a.pdf", "content": "JVBERi0=", "contentType": "application/pdf"}
                ],
            },
            trust_env=False,
        )
        assert resp.status_code == 202, resp.text
        wait_until_sync(lambda: any((data / "attachments").rglob("*.pdf")), timeout=10)
        iep("backup", "--config", str(config), "--to", str(archive))

        seen = {p.name for p in data.rglob("*")}
        assert {"iep.db", "iep.db-wal", "iep.db-shm", "initial-credentials.txt"} <= seen
        assert open_to_other(data) == []  # while the server runs: WAL and SHM are there

    assert open_to_other(archive.parent) == []
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    assert {m.name for m in members} >= {"database/iep.db", "manifest.json"}
    assert [f"{m.name} {oct(m.mode)}" for m in members if m.mode & 0o007] == []

    restored = tmp_path / "restored"
    config2 = write_config(
        restored,
        free_port(),
        storage={"path": "data/iep.db", "attachments_dir": "data/attachments"},
    )
    iep("restore", "--config", str(config2), "--from", str(archive))
    assert any((restored / "data" / "attachments").rglob("*.pdf"))
    assert open_to_other(restored / "data") == []
