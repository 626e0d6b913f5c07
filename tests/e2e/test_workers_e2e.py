"""`iep serve --workers 2` (issue 19), with the real processes: a supervisor and two workers
on one SQLite store, the outbox provider.

Both workers serve and send; concurrent duplicates of one Idempotency-Key create one message;
a rate limit holds across workers; a key revoked through one worker is refused by every
worker within 1 s; SIGKILL of a worker (restarted) or of the supervisor (workers die with it;
started again) under load loses no accepted message; a scheduled job's tick runs once.
Requests go over fresh connections, so the kernel hands them to either worker; which worker
answered is in each access-log line (`"worker": 0|1`).
"""

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.store_sql import query as store_query
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

MESSAGE = {
    "to": ["ada@example.org"],
    "from": "noreply@example.com",
    "subject": "Hello",
    "textBody": "Hi",
}


def first_start_key(data_dir: Path) -> str:
    text = (data_dir / "initial-credentials.txt").read_text()
    return next(line[4:] for line in text.splitlines() if line.startswith("key="))


def post(base: str, key: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    """One request on a connection of its own (either worker may accept it)."""
    with httpx.Client(base_url=base, trust_env=False, timeout=30) as client:
        return client.post("/v1/messages", json=body, headers={"x-api-key": key, **headers})


def workers_that_answered(server: ServerProcess, status: int | None = None) -> set[int]:
    seen = set()
    for line in server.stdout_text().splitlines():
        if '"http.request"' not in line or '"worker"' not in line:
            continue
        record = json.loads(line)
        if status is None or record.get("status") == status:
            seen.add(record["worker"])
    return seen


def statuses(db: Path, ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        marks = ",".join("?" * len(part))
        found.update(
            store_query(db, f"SELECT id, status FROM messages WHERE id IN ({marks})", part)
        )
    return found


def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in store_query(db, sql, args)]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ServerProcess]:
    port = free_port()
    config = write_config(
        tmp_path,
        port,
        delivery={"lease_seconds": 30},
        server={"port": port, "drain_seconds": 2},
    )
    server = ServerProcess(config, port, tmp_path / "logs", cwd=tmp_path, workers=2)
    with server:
        # /ready answers once worker 0 serves; `supervisor.ready` once both workers listen.
        wait_until_sync(
            lambda: '"supervisor.ready"' in server.stdout_text() and len(server.worker_pids()) == 2,
            timeout=60,
            message="both workers listening",
        )
        yield server


class Load:
    """Posts messages from a few threads until stopped; remembers every 202's message id."""

    def __init__(self, base: str, key: str, threads: int = 4) -> None:
        self.base, self.key = base, key
        self.accepted: list[str] = []
        self.errors = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = post(self.base, self.key, MESSAGE)
            except httpx.HTTPError:
                self.errors += 1
                time.sleep(0.01)
                continue
            if response.status_code == 202:
                self.accepted.append(response.json()["messageId"])
            else:
                self.errors += 1

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def wait_for(self, n: int) -> None:
        wait_until_sync(lambda: len(self.accepted) >= n, timeout=60, message=f"{n} accepted")


def test_both_workers_serve_and_send_and_metrics_cover_both(
    cluster: ServerProcess, tmp_path: Path
) -> None:
    key = first_start_key(tmp_path / "data")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(cluster.base_url, key, MESSAGE), range(120)))
    assert {a.status_code for a in answers} == {202}
    ids = [a.json()["messageId"] for a in answers]
    db = tmp_path / "data" / "iep.db"
    wait_until_sync(
        lambda: set(statuses(db, ids).values()) == {"sent"}, timeout=30, message="all sent"
    )
    rows = query(db, "SELECT DISTINCT lease_owner FROM jobs WHERE kind='send'")
    # On PostgreSQL (a cluster store) the owners are "NODE/w0": the node's name comes first.
    owners = {o.rpartition("/")[2] for (o,) in rows}
    assert owners == {"w0", "w1"}  # both workers claimed and sent
    assert workers_that_answered(cluster, 202) == {0, 1}  # both workers served
    metrics = httpx.get(f"{cluster.base_url}/metrics", trust_env=False).text
    accepted = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("iep_messages_accepted_total{")
    ]
    assert sum(accepted) == 120  # whichever worker answered /metrics counts both


def test_concurrent_duplicates_across_workers_create_one_message(
    cluster: ServerProcess, tmp_path: Path
) -> None:
    key = first_start_key(tmp_path / "data")

    def send(_: int) -> httpx.Response:
        return post(cluster.base_url, key, MESSAGE, **{"Idempotency-Key": "dup-1"})

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(send, range(48)))
    assert {a.status_code for a in answers} <= {200, 202, 409}
    ids = {a.json()["messageId"] for a in answers if a.status_code in (200, 202)}
    assert len(ids) == 1
    db = tmp_path / "data" / "iep.db"
    assert query(db, "SELECT count(*) FROM messages")[0][0] == 1
    assert len(workers_that_answered(cluster)) == 2


def test_rate_limit_holds_across_workers(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port, limits={"max_per_minute": 30})
    with ServerProcess(config, port, tmp_path / "logs", cwd=tmp_path, workers=2) as server:
        key = first_start_key(tmp_path / "data")
        # Not across a minute boundary (the window would reset mid-test).
        wait_until_sync(lambda: datetime.now(UTC).second < 45, timeout=20, message="<:45")
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda _: post(server.base_url, key, MESSAGE), range(60)))
        codes = [a.status_code for a in answers]
        assert codes.count(202) == 30, codes
        assert codes.count(429) == 30
        assert workers_that_answered(server, 429) == {0, 1}


def test_a_key_revoked_through_one_worker_is_refused_by_every_worker_within_a_second(
    cluster: ServerProcess, tmp_path: Path
) -> None:
    admin = first_start_key(tmp_path / "data")
    with httpx.Client(base_url=cluster.base_url, trust_env=False, timeout=30) as client:
        made = client.post(
            "/v1/api-keys",
            json={"name": "doomed", "scopes": ["send", "read"]},
            headers={"x-api-key": admin},
        ).json()
    doomed, key_id = made["key"], made["id"]

    def use(_: int) -> int:
        with httpx.Client(base_url=cluster.base_url, trust_env=False, timeout=30) as c:
            return c.get("/v1/messages", headers={"x-api-key": doomed}).status_code

    with ThreadPoolExecutor(8) as pool:  # cached as valid in both workers
        assert set(pool.map(use, range(32))) == {200}
    assert workers_that_answered(cluster, 200) == {0, 1}
    with httpx.Client(base_url=cluster.base_url, trust_env=False, timeout=30) as client:
        gone = client.delete(f"/v1/api-keys/{key_id}", headers={"x-api-key": admin})
    assert gone.status_code == 204
    revoked = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        while True:
            # A round sent from `sent` on and refused in full: every worker had seen the
            # revocation by then (how long the round takes is the loaded machine's, not ours).
            sent = time.monotonic()
            codes = set(pool.map(use, range(16)))
            if codes == {401}:
                break
            assert sent - revoked < 1.0, f"still accepted after 1 s: {codes}"
    assert sent - revoked < 1.0
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(use, range(32))) == {401}
    assert workers_that_answered(cluster, 401) == {0, 1}


def _all_sent(db: Path, ids: list[str]) -> bool:
    found = statuses(db, ids)
    return len(found) == len(ids) and set(found.values()) == {"sent"}


def test_sigkill_of_a_worker_under_load_loses_nothing_and_it_is_restarted(
    cluster: ServerProcess, tmp_path: Path
) -> None:
    key = first_start_key(tmp_path / "data")
    before = cluster.worker_pids()
    with Load(cluster.base_url, key) as load:
        load.wait_for(100)
        os.kill(before[1], signal.SIGKILL)
        wait_until_sync(
            lambda: len(pids := cluster.worker_pids()) == 2 and pids != before,
            timeout=20,
            message="the killed worker restarted",
        )
        done = len(load.accepted)
        load.wait_for(done + 100)  # and both keep serving
    ids = list(load.accepted)
    db = tmp_path / "data" / "iep.db"
    wait_until_sync(lambda: _all_sent(db, ids), timeout=60, message="every accepted one sent")
    assert '"supervisor.worker_died"' in cluster.stdout_text()
    assert before[0] in cluster.worker_pids()  # the other one kept running


def test_sigkill_of_the_supervisor_under_load_loses_nothing_after_a_restart(
    cluster: ServerProcess, tmp_path: Path
) -> None:
    key = first_start_key(tmp_path / "data")
    workers = cluster.worker_pids()
    with Load(cluster.base_url, key) as load:
        load.wait_for(100)
        cluster.kill()
        wait_until_sync(
            lambda: not any(_alive(p) for p in workers), timeout=10, message="workers exit"
        )
    ids = list(load.accepted)
    cluster.start()
    cluster.wait_ready()
    db = tmp_path / "data" / "iep.db"
    wait_until_sync(lambda: _all_sent(db, ids), timeout=60, message="every accepted one sent")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_a_scheduled_job_ticks_exactly_once(cluster: ServerProcess, tmp_path: Path) -> None:
    key = first_start_key(tmp_path / "data")
    db = tmp_path / "data" / "iep.db"
    headers = {"x-api-key": key}
    with httpx.Client(base_url=cluster.base_url, trust_env=False, timeout=30) as client:
        made = client.post(
            "/v1/scheduled-jobs",
            headers=headers,
            json={"name": "every minute", "cron": "* * * * *", "message": MESSAGE},
        )
        assert made.status_code == 201, made.text
        job_id = made.json()["id"]
        # Make its tick due now (a minute ago), then change another job: the change feed wakes
        # the ticker (in worker 0) whichever worker took the change.
        past = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
        store_query(
            db,
            "UPDATE scheduled_jobs SET next_run_at = ? WHERE id = ?",
            (past.strftime("%Y-%m-%dT%H:%M:%S.000Z"), job_id),
        )
        for _ in range(4):
            other = client.post(
                "/v1/scheduled-jobs",
                headers=headers,
                json={"name": "yearly", "cron": "0 0 1 1 *", "message": MESSAGE},
            )
            assert other.status_code == 201
    runs = "SELECT count(*) FROM scheduled_job_runs WHERE scheduled_job_id = ?"
    wait_until_sync(lambda: query(db, runs, job_id)[0][0] >= 1, timeout=20, message="a tick")
    sent = "SELECT count(*) FROM messages WHERE status = 'sent'"
    wait_until_sync(lambda: query(db, sent)[0][0] >= 1, timeout=20, message="its message sent")
    assert query(db, runs, job_id)[0][0] == 1
    assert query(db, "SELECT count(*) FROM messages")[0][0] == 1
