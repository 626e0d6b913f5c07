"""The attachment store's verbs behave the same on local files and on an S3-compatible bucket
(moto's S3 server, real HTTP), so `[blobs] backend` is the only change an operator makes."""

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from iep_appliance.blobs import Blobs, LocalBlobs, open_blobs
from iep_appliance.blobs_s3 import S3Blobs
from iep_appliance.config_blobs import BlobsConfig
from iep_appliance.domain.errors import ConfigError, StoreUnavailable
from tests.support.s3_server import ENVIRON, S3Server, s3_server


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Blobs:
    if request.param == "local":
        return open_blobs(BlobsConfig(), str(tmp_path / "attachments"), {})
    server: S3Server = request.getfixturevalue("s3")
    return open_blobs(server.config(prefix=f"run-{tmp_path.name}"), "", ENVIRON)


def test_put_then_get_returns_the_bytes(blobs: Blobs) -> None:
    blobs.put("t1/m1/0_a.pdf", b"%PDF-1.7 \x00\xff")
    assert blobs.get("t1/m1/0_a.pdf") == b"%PDF-1.7 \x00\xff"


def test_a_missing_blob_reads_as_file_not_found(blobs: Blobs) -> None:
    with pytest.raises(FileNotFoundError):
        blobs.get("t1/m1/0_missing.txt")


def test_delete_removes_one_and_a_missing_one_is_no_error(blobs: Blobs) -> None:
    blobs.put("t1/m1/0_a.txt", b"a")
    blobs.put("t1/m1/1_b.txt", b"b")
    blobs.delete("t1/m1/0_a.txt")
    blobs.delete("t1/m1/0_a.txt")
    assert blobs.keys("t1/") == ["t1/m1/1_b.txt"]


def test_delete_prefix_removes_one_message_and_spares_its_neighbours(blobs: Blobs) -> None:
    blobs.put("t1/m1/0_a.txt", b"a")
    blobs.put("t1/m1/1_b.txt", b"b")
    blobs.put("t1/m10/0_c.txt", b"c")
    blobs.put("t2/m1/0_d.txt", b"d")
    blobs.delete_prefix("t1/m1")
    assert blobs.keys() == ["t1/m10/0_c.txt", "t2/m1/0_d.txt"]


def test_keys_lists_under_a_prefix_sorted(blobs: Blobs) -> None:
    for key in ["t2/m/0_x", "t1/b/0_y", "t1/a/0_z"]:
        blobs.put(key, b".")
    assert blobs.keys("t1/") == ["t1/a/0_z", "t1/b/0_y"]


def test_s3_objects_sit_under_the_configured_prefix(s3: S3Server) -> None:
    found = open_blobs(s3.config(prefix="tenant-files"), "", ENVIRON)
    assert isinstance(found, S3Blobs)
    found.put("t9/m9/0_a.txt", b"a")
    assert "tenant-files/t9/m9/0_a.txt" in s3.object_keys()


def test_local_backend_is_the_default() -> None:
    assert isinstance(open_blobs(BlobsConfig(), "/tmp/x", {}), LocalBlobs)


def test_s3_without_credentials_names_the_keys(s3: S3Server) -> None:
    with pytest.raises(ConfigError) as exc:
        open_blobs(BlobsConfig(backend="s3", endpoint_url=s3.url), "", {})
    assert exc.value.problems == [
        "blobs.bucket: required when backend is s3",
        "blobs.access_key_id_env: environment variable IEP_S3_ACCESS_KEY_ID is not set",
        "blobs.secret_access_key_env: environment variable IEP_S3_SECRET_ACCESS_KEY is not set",
    ]


def test_an_unreachable_bucket_is_store_unavailable_not_a_crash() -> None:
    # A port held bound but not listening refuses connections, and no one else (nor a
    # self-connect from an ephemeral port) can take it while the test runs.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        cfg = BlobsConfig(
            backend="s3", bucket="b", endpoint_url=f"http://127.0.0.1:{port}", timeout_seconds=2
        )
        down = open_blobs(cfg, "", ENVIRON)
        with pytest.raises(StoreUnavailable):
            down.put("t1/m1/0_a.txt", b"a")
        with pytest.raises(StoreUnavailable):
            down.get("t1/m1/0_a.txt")
