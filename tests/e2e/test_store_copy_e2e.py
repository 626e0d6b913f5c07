"""`iep store copy` moves an appliance from SQLite + attachment files to PostgreSQL + an
S3-compatible bucket: the real `iep serve` on SQLite takes mail, the copy runs (twice: it is
resumable and refreshes), and the same appliance started on PostgreSQL serves every message,
attachment and key as before. Only `[storage] backend` and `[blobs] backend` changed."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import fresh_schema
from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.s3_server import ENVIRON, s3_server
from tests.support.store_sql import sqlite_only

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    sqlite_only("`iep store copy` reads a SQLite source"),
]

PDF = b"%PDF-1.4 moved along \x00\x01"


def _key(server: ServerProcess) -> str:
    return next(
        line.split("=", 1)[1]
        for line in server.stdout_text().splitlines()
        if line.startswith("key=")
    )


def test_an_appliance_moves_from_sqlite_to_postgresql_and_s3(tmp_path: Path) -> None:
    port = free_port()
    sqlite_cfg = write_config(tmp_path, port, filename="sqlite.toml")
    with fresh_schema() as (url, schema), s3_server("iep-move") as s3:
        pg_url = f"{url}?options=-csearch_path%3D{schema}"
        env = {**ENVIRON, "IEP_DATABASE_URL": pg_url}
        pg_cfg = write_config(
            tmp_path,
            port,
            filename="pg.toml",
            storage={"backend": "postgresql", "path": "data/iep.db"},
            blobs={"backend": "s3", "bucket": s3.bucket, "endpoint_url": s3.url},
        )
        sent: list[str] = []
        with ServerProcess(sqlite_cfg, port, tmp_path / "logs-sqlite") as server:
            key = _key(server)
            with httpx.Client(base_url=server.base_url, trust_env=False, timeout=30) as http:
                for i in range(30):
                    body: dict[str, object] = {
                        "to": [f"u{i}@example.org"],
                        "from": "noreply@example.com",
                        "subject": f"n{i}",
                        "textBody": "x",
                    }
                    if i % 3 == 0:
                        body["attachments"] = [
                            {
                                "filename": f"f{i}.pdf",
                                "content": base64.b64encode(PDF).decode(),
                                "contentType": "application/pdf",
                            }
                        ]
                    resp = http.post("/v1/messages", json=body, headers={"x-api-key": key})
                    assert resp.status_code == 202, resp.text
                    sent.append(resp.json()["messageId"])
                # The copy runs while the appliance is up: resumable, then run once more.
                first = _copy(sqlite_cfg, pg_cfg, env)
                assert first.returncode == 0, first.stderr
        second = _copy(sqlite_cfg, pg_cfg, env)
        assert second.returncode == 0, second.stderr
        report = json.loads(second.stdout)
        assert report["verified"] is True
        by_table = {t["table"]: t for t in report["tables"]}
        assert by_table["messages"]["source"] == by_table["messages"]["target"] == 30
        assert by_table["attachments"]["target"] == 10
        assert "messages: 30/30 rows" in first.stderr
        assert len([k for k in s3.object_keys() if k.endswith(".pdf")]) == 10

        with (
            ServerProcess(pg_cfg, port, tmp_path / "logs-pg", env=env) as server,
            httpx.Client(base_url=server.base_url, trust_env=False, timeout=30) as http,
        ):
            for message_id in sent:
                got = http.get(f"/v1/messages/{message_id}", headers={"x-api-key": key})
                assert got.status_code == 200, got.text
            more = http.post(
                    "/v1/messages",
                    headers={"x-api-key": key},
                    json={"to": ["new@example.org"], "from": "noreply@example.com",
                          "subject": "after the move", "textBody": "x"},
                )  # fmt: skip
            assert more.status_code == 202, more.text


def _copy(src: Path, dst: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iep_appliance", "store", "copy", "--from", str(src),
         "--to", str(dst), "--json"],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **env},
    )  # fmt: skip
