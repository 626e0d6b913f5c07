"""Backup under load and restore, with the real `iep serve` and the real `iep` CLI.

A thread keeps POSTing messages (every fifth with an attachment) to a running server that
delivers through the outbox provider, while `iep backup` runs as its own process. The archive
is restored into a new, absent data directory, a fresh server starts on it, and every message
whose `202` arrived before the backup started is read back, with its attachment file on disk;
the restored appliance accepts and sends a new message. `iep purge --dry-run` runs against
the live server meanwhile (WAL: it reads while the server writes).
"""

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.store_sql import sqlite_only
from tests.support.waiting import wait_until_sync

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    sqlite_only(
        "`iep backup` snapshots the SQLite file (PostgreSQL is backed up with its own tools)"
    ),
]

PDF = "JVBERi0xLjQgdGlueQ=="  # b"%PDF-1.4 tiny"
MAX_POSTS = 5000  # the loader's bound, whatever happens


def iep(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iep_appliance", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def first_key(data_dir: Path) -> str:
    text = (data_dir / "initial-credentials.txt").read_text()
    return next(line[4:] for line in text.splitlines() if line.startswith("key="))


def body(n: int) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "to": [f"user{n}@example.org"],
        "from": {"email": "noreply@example.com", "name": "Load"},
        "subject": "Order {{n}}",
        "htmlBody": "<p>Order {{n}}</p>",
        "variables": {"n": str(n)},
    }
    if n % 5 == 0:
        msg["attachments"] = [
            {"filename": "order.pdf", "content": PDF, "contentType": "application/pdf"}
        ]
    return msg


class Loader(threading.Thread):
    """POSTs messages one after another until stopped (or MAX_POSTS); remembers the 202s."""

    def __init__(self, base_url: str, key: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.key = key
        self.accepted: list[tuple[str, bool]] = []  # (messageId, has attachment)
        self.failures: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        headers = {"x-api-key": self.key}
        with httpx.Client(base_url=self.base_url, headers=headers, trust_env=False) as client:
            for n in range(MAX_POSTS):
                if self.halt.is_set():
                    return
                try:
                    resp = client.post("/v1/messages", json=body(n), timeout=30)
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if resp.status_code == 202:
                    self.accepted.append((resp.json()["messageId"], n % 5 == 0))
                else:
                    self.failures.append(f"{resp.status_code} {resp.text[:200]}")


def test_backup_under_load_restores_every_message_accepted_before_it(tmp_path: Path) -> None:
    live_port, restored_port = free_port(), free_port()
    live_cfg = write_config(tmp_path / "live", live_port, logging={"access_log": False})
    restored_cfg = write_config(tmp_path / "restored", restored_port)
    archive = tmp_path / "backups" / "iep-backup.tar.gz"

    with ServerProcess(live_cfg, live_port, tmp_path / "logs-live") as live:
        key = first_key(tmp_path / "live" / "data")
        loader = Loader(live.base_url, key)
        loader.start()
        try:
            wait_until_sync(lambda: len(loader.accepted) >= 60, timeout=60)
            before = list(loader.accepted)  # every 202 received before the backup starts
            done = iep("backup", "--config", str(live_cfg), "--to", str(archive))
            during = len(loader.accepted) - len(before)
            dry = iep("purge", "--config", str(live_cfg), "--dry-run")
        finally:
            loader.halt.set()
            loader.join(timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pages" in done.stderr  # progress: pages copied / remaining
    assert during > 0, "the server accepted nothing while the backup ran"
    assert loader.failures == []
    assert dry.returncode == 0, dry.stderr
    assert "would go" in dry.stdout

    restored = iep("restore", "--config", str(restored_cfg), "--from", str(archive))
    assert restored.returncode == 0, restored.stderr
    again = iep("restore", "--config", str(restored_cfg), "--from", str(archive))
    assert again.returncode != 0
    assert "not empty" in again.stderr

    blobs = tmp_path / "restored" / "data" / "attachments"
    with (
        ServerProcess(restored_cfg, restored_port, tmp_path / "logs-restored") as server,
        httpx.Client(base_url=server.base_url, headers={"x-api-key": key}, trust_env=False) as c,
    ):
        missing = [m for m, _ in before if c.get(f"/v1/messages/{m}").status_code != 200]
        assert missing == [], f"{len(missing)} of {len(before)} accepted messages lost"
        with_files = [m for m, has in before if has]
        assert with_files
        assert all(list(blobs.glob(f"*/{m}/0_order.pdf")) for m in with_files)

        resp = c.post("/v1/messages", json=body(1))
        assert resp.status_code == 202
        new_id = resp.json()["messageId"]
        wait_until_sync(
            lambda: c.get(f"/v1/messages/{new_id}").json()["status"] == "sent", timeout=30
        )
