"""`[blobs] backend = "s3"` against the real `iep serve` and a real S3-compatible server (moto's
S3 on 127.0.0.1): an attachment is in the bucket when the 202 answers, goes out with the mail
from there, and leaves no file in the data directory. Switching the backend is the only change."""

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.s3_server import ENVIRON, S3Server, s3_server
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

PDF = b"%PDF-1.4 a small attachment \x00\xff"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server("iep-e2e") as server:
        yield server


def test_an_attachment_lives_in_the_bucket_and_goes_out_from_there(
    tmp_path: Path, s3: S3Server
) -> None:
    port = free_port()
    with SmtpSink() as sink:
        config = write_config(
            tmp_path,
            port,
            blobs={"backend": "s3", "bucket": s3.bucket, "prefix": "node-a",
                   "endpoint_url": s3.url},
            providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": sink.port}},
            routing={"default_provider": "relay"},
        )  # fmt: skip
        with ServerProcess(config, port, tmp_path / "logs", env=ENVIRON) as server:
            key = next(
                line.split("=", 1)[1]
                for line in server.stdout_text().splitlines()
                if line.startswith("key=")
            )
            with httpx.Client(base_url=server.base_url, trust_env=False, timeout=30) as http:
                sent = http.post(
                    "/v1/messages",
                    headers={"x-api-key": key},
                    json={
                        "to": ["ada@example.org"],
                        "from": "noreply@example.com",
                        "subject": "Invoice",
                        "textBody": "attached",
                        "attachments": [
                            {
                                "filename": "invoice.pdf",
                                "content": base64.b64encode(PDF).decode(),
                                "contentType": "application/pdf",
                            }
                        ],
                    },
                )
                assert sent.status_code == 202, sent.text
                message_id = sent.json()["messageId"]
                stored = [k for k in s3.object_keys() if message_id in k]
                assert len(stored) == 1 and stored[0].startswith("node-a/")
                assert stored[0].endswith("invoice.pdf")
                wait_until_sync(
                    lambda: len(sink.received) == 1, timeout=30, message="the mail at the sink"
                )
                mail = sink.received[0].parsed
                parts = [p for p in mail.walk() if p.get_filename() == "invoice.pdf"]
                assert [p.get_payload(decode=True) for p in parts] == [PDF]
    attachments_dir = tmp_path / "data" / "attachments"
    assert not attachments_dir.exists() or not any(p.is_file() for p in attachments_dir.rglob("*"))
