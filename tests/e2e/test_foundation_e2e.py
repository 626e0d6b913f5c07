"""The foundation against the real `iep serve` process and the real `iep` CLI.

Tenants and keys come from the CLI (`python -m iep_appliance … --json`); the server runs
with the built-in outbox provider. The crash test SIGKILLs the server in the middle of a
burst of concurrent posts and then checks the SQLite file directly: every `202` is there
with its job, and nothing is half-written.
"""

import json
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from iep_appliance import __version__
from tests.support.problems import assert_problem
from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.store_sql import query
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PDF = "JVBERi0xLjQgdGlueQ=="  # b"%PDF-1.4 tiny"


# ---- helpers ---------------------------------------------------------------------------------


def iep(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m iep_appliance ARGS` (the `iep` command) to completion."""
    return subprocess.run(
        [sys.executable, "-m", "iep_appliance", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def iep_json(*args: str) -> dict[str, Any]:
    done = iep(*args, "--json")
    assert done.returncode == 0, f"iep {' '.join(args)} failed:\n{done.stderr}"
    return json.loads(done.stdout)


def message(sender: str = "noreply@acme.example.com", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "to": ["ada@example.org"],
        "from": {"email": sender, "name": "Acme"},
        "subject": "Hello {{name}}",
        "htmlBody": "<p>Hello {{name}}</p>",
        "variables": {"name": "Ada"},
    }
    body.update(overrides)
    return body


def client() -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=30)


def db_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in query(path, sql)]


def credentials(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name in {"key", "admin_email", "admin_password", "dashboard_url"}:
            found[name] = value
    return found


# ---- tenants and keys from the CLI, then the API --------------------------------------------


class Deployment:
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.config = write_config(tmp_path, self.port, logging={"access_log": False})
        self.db = tmp_path / "data" / "iep.db"
        self.server = ServerProcess(self.config, self.port, tmp_path / "logs")
        self.keys: dict[str, str] = {}

    @property
    def url(self) -> str:
        return self.server.base_url

    def headers(self, who: str) -> dict[str, str]:
        return {"x-api-key": self.keys[who]}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = Deployment(tmp_path_factory.mktemp("foundation"))
    cfg = str(d.config)
    with ThreadPoolExecutor(3) as pool:  # separate processes writing one database at once
        tenants = list(
            pool.map(
                lambda slug: iep_json(
                    "tenant", "create", "--config", cfg, "--name", slug.title(), "--slug", slug,
                    "--domain", "acme.example.com",
                ),
                ["acme", "other"],
            )
        )  # fmt: skip
        assert [t["slug"] for t in tenants] == ["acme", "other"]
        assert all(t["id"] for t in tenants)
        wanted = [("acme", "acme", "send,read"), ("send-only", "acme", "send"),
                  ("other", "other", "send,read")]  # fmt: skip
        created = pool.map(
            lambda w: iep_json(
                "key", "create", "--config", cfg, "--tenant", w[1], "--scopes", w[2]
            ),
            wanted,
        )
        for (who, _tenant, _scopes), key in zip(wanted, created, strict=True):
            assert key["key"].startswith("iep_") and key["id"]
            d.keys[who] = key["key"]
    with d.server:
        yield d


def test_cli_tenant_counts_as_the_first_start(deployment: Deployment) -> None:
    assert "key=" not in deployment.server.stdout_text()
    assert not (deployment.db.parent / "initial-credentials.txt").exists()


def test_a_posted_message_is_readable_with_its_queued_event(deployment: Deployment) -> None:
    with client() as http:
        sent = http.post(
            f"{deployment.url}/v1/messages", json=message(), headers=deployment.headers("acme")
        )
        assert sent.status_code == 202, sent.text
        message_id = sent.json()["messageId"]
        assert sent.json()["status"] == "queued"

        got = http.get(
            f"{deployment.url}/v1/messages/{message_id}", headers=deployment.headers("acme")
        )

    assert got.status_code == 200
    detail = got.json()
    assert detail["messageId"] == message_id
    assert detail["to"] == ["ada@example.org"]
    assert detail["events"][0]["type"] == "queued"


def test_twenty_concurrent_posts_with_one_key_make_one_message(deployment: Deployment) -> None:
    key = str(uuid.uuid4())
    body = message(idempotencyKey=key)
    barrier = threading.Barrier(20)

    def post(_: int) -> tuple[int, str]:
        with client() as http:
            barrier.wait(10)
            resp = http.post(
                f"{deployment.url}/v1/messages", json=body, headers=deployment.headers("acme")
            )
            return resp.status_code, resp.json()["messageId"]

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(post, range(20)))

    assert sorted(code for code, _ in answers) == [200] * 19 + [202]
    assert len({mid for _, mid in answers}) == 1
    rows = db_rows(deployment.db, f"SELECT count(*) FROM messages WHERE idempotency_key = '{key}'")
    assert rows == [(1,)]


def test_same_idempotency_key_with_another_body_is_409(deployment: Deployment) -> None:
    key = str(uuid.uuid4())
    with client() as http:
        first = http.post(
            f"{deployment.url}/v1/messages",
            json=message(idempotencyKey=key),
            headers=deployment.headers("acme"),
        )
        other = http.post(
            f"{deployment.url}/v1/messages",
            json=message(idempotencyKey=key, subject="Different"),
            headers=deployment.headers("acme"),
        )

    assert first.status_code == 202
    assert assert_problem(other, 409)["messageId"] == first.json()["messageId"]


def test_other_tenants_message_is_404(deployment: Deployment) -> None:
    with client() as http:
        sent = http.post(
            f"{deployment.url}/v1/messages", json=message(), headers=deployment.headers("acme")
        )
        resp = http.get(
            f"{deployment.url}/v1/messages/{sent.json()['messageId']}",
            headers=deployment.headers("other"),
        )

    assert_problem(resp, 404)


def test_send_only_key_cannot_read(deployment: Deployment) -> None:
    with client() as http:
        sent = http.post(
            f"{deployment.url}/v1/messages", json=message(), headers=deployment.headers("send-only")
        )
        resp = http.get(
            f"{deployment.url}/v1/messages/{sent.json()['messageId']}",
            headers=deployment.headers("send-only"),
        )

    assert sent.status_code == 202
    assert_problem(resp, 403)


# What an accepted request writes (delivery adds later events, so only accept-time ones count).
WRITTEN = (
    "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM jobs),"
    " (SELECT count(*) FROM events WHERE type IN ('queued', 'scheduled')),"
    " (SELECT count(*) FROM attachments)"
)


def test_bad_input_is_refused_by_the_real_server_and_writes_nothing(
    deployment: Deployment,
) -> None:
    before = db_rows(deployment.db, WRITTEN)
    with client() as http:
        resp = http.post(
            f"{deployment.url}/v1/messages",
            json=message(to=["nope"], subject="a\r\nb", htmlBody="{{#if x}}"),
            headers=deployment.headers("acme"),
        )

    assert_problem(resp, 422, "to[0]", "subject", "htmlBody")
    assert db_rows(deployment.db, WRITTEN) == before


def test_cli_key_created_while_the_server_runs_works_at_once(deployment: Deployment) -> None:
    created = iep_json(
        "key", "create", "--config", str(deployment.config), "--tenant", "acme", "--scopes", "read"
    )

    with client() as http:
        resp = http.get(f"{deployment.url}/v1/messages", headers={"x-api-key": created["key"]})

    assert resp.status_code == 200


# ---- first start -----------------------------------------------------------------------------


def test_first_start_prints_working_credentials_once(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port, logging={"access_log": False})
    server = ServerProcess(config, port, tmp_path / "logs")
    creds_file = tmp_path / "data" / "initial-credentials.txt"

    with server:
        printed = credentials(server.stdout_text())
        assert set(printed) == {"key", "admin_email", "admin_password", "dashboard_url"}
        assert printed["admin_email"] == "admin@example.com"
        assert printed["dashboard_url"] == f"http://127.0.0.1:{port}/admin/"
        assert creds_file.stat().st_mode & 0o777 == 0o600
        assert credentials(creds_file.read_text()) == printed
        with client() as http:
            sent = http.post(
                f"{server.base_url}/v1/messages",
                json=message(sender="noreply@example.com"),
                headers={"x-api-key": printed["key"]},
            )
        assert sent.status_code == 202, sent.text
    assert server.proc is not None and server.proc.returncode == 0

    (stored_hash,) = db_rows(
        tmp_path / "data" / "iep.db",
        "SELECT password_hash FROM admin_users WHERE email = 'admin@example.com'",
    )[0]
    assert PasswordHasher().verify(stored_hash, printed["admin_password"])

    with server:
        assert "key=" not in server.stdout_text()
        assert "admin_password=" not in server.stdout_text()
    assert credentials(creds_file.read_text()) == printed


# ---- SIGKILL during a burst of posts ---------------------------------------------------------


@pytest.mark.slow
def test_sigkill_mid_burst_loses_no_accepted_message_and_leaves_none_half_written(
    tmp_path: Path,
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    port = free_port()
    config = write_config(tmp_path, port, logging={"access_log": False})
    server = ServerProcess(config, port, tmp_path / "logs")
    server.start()
    server.wait_ready()
    key = credentials(server.stdout_text())["key"]
    accepted: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def poster(n: int) -> None:
        with client() as http:
            i = 0
            while not stop.is_set():
                i += 1
                body = message(sender="noreply@example.com", to=[f"u{n}-{i}@example.org"])
                if i % 2:
                    body["attachments"] = [
                        {
                            "filename": f"{n}-{i}.pdf",
                            "content": PDF,
                            "contentType": "application/pdf",
                        }
                    ]
                try:
                    resp = http.post(
                        f"{server.base_url}/v1/messages", json=body, headers={"x-api-key": key}
                    )
                except httpx.HTTPError:
                    return  # the server is gone
                if resp.status_code == 202:
                    with lock:
                        accepted.append(resp.json()["messageId"])

    threads = [threading.Thread(target=poster, args=(n,), daemon=True) for n in range(8)]
    try:
        for t in threads:
            t.start()
        wait_until_sync(lambda: len(accepted) >= 20, timeout=30, message="first 202s")
        deadline = time.monotonic() + rng.uniform(0.0, 2.5)  # a random moment in the burst
        wait_until_sync(lambda: time.monotonic() >= deadline or not server.is_running(), 5)
        server.kill()
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        server.stop()
    with lock:
        got_202 = set(accepted)

    server.start()
    try:
        server.wait_ready()
        db = tmp_path / "data" / "iep.db"
        messages = {r[0] for r in db_rows(db, "SELECT id FROM messages")}
        missing = got_202 - messages
        assert not missing, f"seed {seed}: {len(missing)} accepted messages lost"
        send_jobs = db_rows(
            db, "SELECT ref_id, count(*) FROM jobs WHERE kind = 'send' GROUP BY ref_id"
        )
        assert {ref for ref, _ in send_jobs} == messages, f"seed {seed}: job/message mismatch"
        assert all(n == 1 for _, n in send_jobs), f"seed {seed}: a message with two send jobs"
        without_event = db_rows(
            db, "SELECT id FROM messages WHERE id NOT IN (SELECT message_id FROM events)"
        )
        assert without_event == [], f"seed {seed}: messages without an event"
        orphan_events = db_rows(
            db, "SELECT count(*) FROM events WHERE message_id NOT IN (SELECT id FROM messages)"
        )
        assert orphan_events == [(0,)]
        attachments = db_rows(db, "SELECT message_id, storage_key FROM attachments")
        root = tmp_path / "data" / "attachments"
        assert all(m in messages for m, _ in attachments)
        assert all((root / k).is_file() for _, k in attachments), "an attachment file is missing"
        with client() as http:
            for message_id in rng.sample(sorted(got_202), min(10, len(got_202))):
                resp = http.get(
                    f"{server.base_url}/v1/messages/{message_id}", headers={"x-api-key": key}
                )
                assert resp.status_code == 200, f"seed {seed}: {message_id} {resp.text}"
    finally:
        server.stop()


# ---- CLI errors and version ------------------------------------------------------------------


def test_cli_errors_are_clear_and_exit_1_or_3_for_not_found(tmp_path: Path) -> None:
    config = str(write_config(tmp_path, free_port()))

    with ThreadPoolExecutor(3) as pool:
        unknown_run = pool.submit(iep, "key", "create", "--config", config, "--tenant", "nope")
        bad_slug_run = pool.submit(
            iep, "tenant", "create", "--config", config, "--name", "C", "--slug", "Not A Slug"
        )
        first = iep("tenant", "create", "--config", config, "--name", "A", "--slug", "dup")
        duplicate = iep("tenant", "create", "--config", config, "--name", "B", "--slug", "dup")
        unknown, bad_slug = unknown_run.result(), bad_slug_run.result()

    assert (unknown.returncode, unknown.stdout) == (3, "")  # not found
    assert "No tenant with slug 'nope'" in unknown.stderr
    assert first.returncode == 0
    assert duplicate.returncode == 1
    assert "'dup' already exists" in duplicate.stderr
    assert bad_slug.returncode == 1
    assert "slug" in bad_slug.stderr
    for done in (unknown, duplicate, bad_slug):
        assert "Traceback" not in done.stderr


def test_iep_check_and_serve_refuse_a_bad_config_naming_each_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[server]\nbogus = 1\n[delivery]\nretry_schedule = [0]\n")
    expected = [
        "error: server.bogus: unknown key",
        "error: delivery.retry_schedule: expected a list of positive integers",
    ]

    check = iep("check", "--config", str(config))
    serve = iep("serve", "--config", str(config))

    assert (check.returncode, check.stderr.splitlines()) == (1, expected)
    assert (serve.returncode, serve.stderr.splitlines()) == (1, expected)
    assert not (tmp_path / "data").exists()


def test_iep_check_accepts_the_example_config() -> None:
    example = Path(__file__).resolve().parents[2] / "iep.toml.example"

    done = iep("check", "--config", str(example))

    assert done.returncode == 0, done.stderr


def test_iep_version_prints_the_version() -> None:
    done = iep("--version")

    assert done.returncode == 0
    assert done.stdout.strip() == f"iep {__version__}"
    assert (
        subprocess.run(
            [str(Path(sys.executable).parent / "iep"), "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout.strip()
        == f"iep {__version__}"
    )
