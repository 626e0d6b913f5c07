"""Honest readiness (DESIGN §10.1): the real `iep serve` with its data directory on a small
loop-mounted ext4 filesystem that the test fills up or turns read-only.

While the store cannot commit, `/ready` is 503 and every write (the fast path of
POST /v1/messages, the Litestar handler behind it, batches) answers 503 problem+json with
`Retry-After`, never 500. When space returns the same process recovers: `/ready` 200, a POST
202, the message delivered. A send that finished while the disk was full is recorded within
seconds of space returning — not re-sent after its lease.

Read-only: `mount -o remount,ro` is refused (EBUSY) while the database is open for writing,
so the filesystem is turned read-only the way the kernel does it under a running process:
an ext4 error with `errors=remount-ro` (`/sys/fs/ext4/<dev>/trigger_fs_error`). ext4 cannot
go back to read-write after that without an unmount, so that case checks the 503s only.
"""

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.smtp_sink import SmtpSink
from tests.support.store_sql import sqlite_only
from tests.support.waiting import wait_until_sync

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    sqlite_only("a full or read-only disk under the SQLite file"),
]

IMAGE_BYTES = 8 * 1024 * 1024
PROBLEM = "application/problem+json"


class SmallFs:
    def __init__(self, mnt: Path, device: str) -> None:
        self.mnt = mnt
        self.device = device
        self.filler = mnt / "filler"

    def fill(self) -> None:
        """Write a file until ENOSPC, leaving no free block."""
        with self.filler.open("ab", buffering=0) as fh:
            for size in (1 << 20, 1 << 16, 1 << 12, 1 << 10, 1):
                with contextlib.suppress(OSError):
                    while True:
                        fh.write(b"\0" * size)
            with contextlib.suppress(OSError):
                os.fsync(fh.fileno())

    def free(self) -> None:
        self.filler.unlink()
        os.sync()

    def make_read_only(self) -> None:
        name = Path(self.device).name
        Path(f"/sys/fs/ext4/{name}/trigger_fs_error").write_text("iep test: go read-only\n")
        wait_until_sync(
            lambda: {"ro", "emergency_ro"} & set(_mount_options(self.mnt)),
            timeout=10,
            message="remounted read-only",
        )


def _mount_options(mnt: Path) -> list[str]:
    out = subprocess.run(
        ["findmnt", "-no", "OPTIONS", str(mnt)], capture_output=True, text=True, check=False
    )
    return out.stdout.strip().split(",")


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[SmallFs]:
    """An 8 MB ext4 image loop-mounted under this test's tmp dir (unique per xdist worker)."""
    if os.geteuid() != 0:
        pytest.skip("loop mounts need root")
    if shutil.which("mkfs.ext4") is None or shutil.which("losetup") is None:
        pytest.skip("mkfs.ext4/losetup not installed")
    image, mnt = tmp_path / "fs.img", tmp_path / "mnt"
    mnt.mkdir()
    with image.open("wb") as fh:
        fh.truncate(IMAGE_BYTES)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True)
    attached = subprocess.run(
        ["losetup", "--find", "--show", str(image)], capture_output=True, text=True, check=False
    )
    if attached.returncode != 0:
        pytest.skip(f"no loop device: {attached.stderr.strip()}")
    device = attached.stdout.strip()
    try:
        mounted = subprocess.run(
            ["mount", "-o", "errors=remount-ro", device, str(mnt)],
            capture_output=True,
            text=True,
            check=False,
        )
        if mounted.returncode != 0:
            pytest.skip(f"mount unavailable: {mounted.stderr.strip()}")
        try:
            yield SmallFs(mnt, device)
        finally:
            if subprocess.run(["umount", str(mnt)], check=False).returncode != 0:
                subprocess.run(["umount", "-l", str(mnt)], check=False)
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


@pytest.fixture
def relay() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def start_server(tmp_path: Path, fs: SmallFs, relay: SmtpSink) -> ServerProcess:
    port = free_port()
    data = fs.mnt / "data"
    config = write_config(
        tmp_path,
        port,
        storage={"path": str(data / "iep.db"), "attachments_dir": str(data / "attachments")},
        # The shortest lease: a completion left to the lease would be re-sent within seconds.
        delivery={"concurrency": 4, "retry_schedule": [1, 1, 1], "lease_seconds": 5},
        providers={
            "relay": {"type": "smtp", "host": "127.0.0.1", "port": relay.port, "connections": 2}
        },
        routing={"default_provider": "relay"},
    )
    server = ServerProcess(config, port, tmp_path / "logs")
    server.start()
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def api_key(fs: SmallFs) -> str:
    text = (fs.mnt / "data" / "initial-credentials.txt").read_text()
    return next(line[4:] for line in text.splitlines() if line.startswith("key="))


def body(n: int) -> dict[str, Any]:
    return {
        "to": [f"user{n}@example.org"],
        "from": {"email": "noreply@example.com", "name": "Disk"},
        "subject": f"Message {n}",
        "htmlBody": f"<p>Hello, this is message {n}.</p>" + "<p>padding</p>" * 50,
    }


def assert_unavailable(resp: httpx.Response) -> None:
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM), resp.headers
    assert int(resp.headers["retry-after"]) > 0
    problem = resp.json()
    assert problem["status"] == 503
    assert problem["type"].endswith("/store-unavailable")


def post_until_unavailable(client: httpx.Client, limit: int = 400) -> list[str]:
    """POST until the store refuses; every answer is 202 or 503. The accepted ids."""
    accepted = []
    for n in range(limit):
        resp = client.post("/v1/messages", json=body(n))
        if resp.status_code == 503:
            assert_unavailable(resp)
            return accepted
        assert resp.status_code == 202, resp.text
        accepted.append(resp.json()["messageId"])
    raise AssertionError(f"{limit} POSTs accepted on a full disk")


def ready_status(client: httpx.Client) -> int:
    return client.get("/ready").status_code


def every_write_is_unavailable(client: httpx.Client) -> None:
    assert_unavailable(client.post("/v1/messages", json=body(9001)))  # the fast path
    raw = httpx.Request("POST", "/", json=body(9002)).content
    litestar = client.post(  # a content type the fast path leaves to the Litestar handler
        "/v1/messages", content=raw, headers={"content-type": "application/json;charset=UTF-8"}
    )
    assert_unavailable(litestar)
    batch = {
        "from": {"email": "noreply@example.com"},
        "subject": "Batch",
        "htmlBody": "<p>b</p>",
        "recipients": [{"to": ["b1@example.org"]}, {"to": ["b2@example.org"]}],
    }
    assert_unavailable(client.post("/v1/messages/batch", json=batch))
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["store"].startswith("error")
    assert client.get("/health").status_code == 200


def test_full_disk_answers_503_and_recovers_without_restart(
    tmp_path: Path, small_fs: SmallFs, relay: SmtpSink
) -> None:
    server = start_server(tmp_path, small_fs, relay)
    try:
        pid = server.pid
        headers = {"x-api-key": api_key(small_fs)}
        with httpx.Client(base_url=server.base_url, headers=headers, trust_env=False) as client:
            small_fs.fill()
            accepted = post_until_unavailable(client)
            wait_until_sync(lambda: ready_status(client) == 503, message="/ready 503 when full")
            every_write_is_unavailable(client)

            small_fs.free()
            wait_until_sync(lambda: ready_status(client) == 200, message="/ready 200 again")
            resp = client.post("/v1/messages", json=body(424242))
            assert resp.status_code == 202, resp.text
            accepted.append(resp.json()["messageId"])

            wait_until_sync(
                lambda: set(relay.by_iep_id()) >= set(accepted),
                timeout=60,
                message="every accepted message delivered",
            )
        assert server.is_running() and server.pid == pid  # no restart
        assert "request.error" not in server.stdout_text()  # no 500 was logged
    finally:
        server.stop()


def test_a_completion_that_fails_on_a_full_disk_is_retried_not_resent(
    tmp_path: Path, small_fs: SmallFs, relay: SmtpSink
) -> None:
    server = start_server(tmp_path, small_fs, relay)
    try:
        headers = {"x-api-key": api_key(small_fs)}
        with httpx.Client(base_url=server.base_url, headers=headers, trust_env=False) as client:
            relay.set_delay(2.0)  # the relay takes its time: the disk fills meanwhile
            resp = client.post("/v1/messages", json=body(1))
            assert resp.status_code == 202, resp.text
            message_id = resp.json()["messageId"]
            wait_until_sync(
                lambda: client.get(f"/v1/messages/{message_id}").json()["status"] == "processing",
                message="the send is in flight",
            )
            small_fs.fill()
            post_until_unavailable(client)  # uses up the last room in the WAL too
            wait_until_sync(lambda: message_id in relay.by_iep_id(), message="relay took it")
            wait_until_sync(
                lambda: "completion.retrying" in server.stdout_text(),
                message="the completion failed and is being retried",
            )
            # The disk stays full past the 5 s lease: six tries back off 0.25+0.5+1+2+4 s.
            wait_until_sync(
                lambda: server.stdout_text().count("completion.retrying") >= 6,
                timeout=30,
                message="the completion outlived its lease",
            )
            small_fs.free()
            freed = time.monotonic()
            wait_until_sync(
                lambda: client.get(f"/v1/messages/{message_id}").json()["status"] == "sent",
                timeout=20,
                message="recorded sent once space returned",
            )
            assert time.monotonic() - freed < 15
            detail = client.get(f"/v1/messages/{message_id}").json()
            assert detail["attempts"] == 1
            assert [e["type"] for e in detail["events"]].count("sent") == 1
            assert not [e for e in detail["events"] if e["data"].get("released")]
            assert relay.by_iep_id()[message_id] == 1
    finally:
        server.stop()


def test_read_only_filesystem_answers_503_never_500(
    tmp_path: Path, small_fs: SmallFs, relay: SmtpSink
) -> None:
    server = start_server(tmp_path, small_fs, relay)
    try:
        headers = {"x-api-key": api_key(small_fs)}
        with httpx.Client(base_url=server.base_url, headers=headers, trust_env=False) as client:
            assert client.post("/v1/messages", json=body(1)).status_code == 202
            small_fs.make_read_only()
            wait_until_sync(lambda: ready_status(client) == 503, message="/ready 503 when ro")
            every_write_is_unavailable(client)
        assert server.is_running()
        assert "request.error" not in server.stdout_text()
    finally:
        server.stop(timeout=15)
