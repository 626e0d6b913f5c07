"""SIGTERM under load, against the real `iep serve`: every request the server took in is
answered, new ones get 503 problem+json with Retry-After while it drains, and after the
listener closes clients see "connection refused". Every 202 is in the database after a
restart.

Eight clients post messages in a bounded loop, each on its own kept-alive connection; SIGTERM
is sent once a fair number has been accepted, while requests are in flight. One outcome TCP
itself allows: a connection still in the kernel's accept queue when the listener closes is
reset; its request was never read, so the test checks that no reset request's message (by
its idempotency key) was committed, and that the server drained with nothing in flight.
"""

import contextlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.store_sql import query
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CLIENTS = 8
MAX_REQUESTS = 400  # per client: the loop is bounded even if the server never stopped
SIGNAL_AFTER = 150  # accepted messages before SIGTERM


@dataclass
class Outcomes:
    accepted: list[str] = field(default_factory=list)  # message ids answered 202
    refused_503: list[httpx.Response] = field(default_factory=list)
    connection_refused: int = 0
    broken: list[tuple[str, str]] = field(default_factory=list)  # (idempotency key, error)
    lock: threading.Lock = field(default_factory=threading.Lock)


def body(n: int) -> dict[str, object]:
    return {
        "to": [f"user{n}@example.net"],
        "from": {"email": "noreply@example.com"},
        "subject": f"Drain {n}",
        "htmlBody": "<p>hello</p>",
        "idempotencyKey": str(uuid.uuid4()),
    }


def client_loop(url: str, key: str, out: Outcomes, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, trust_env=False, timeout=30) as http:
        for n in range(MAX_REQUESTS):
            if stop.is_set():
                return
            message = body(n)
            try:
                resp = http.post("/v1/messages", json=message, headers={"x-api-key": key})
            except httpx.ConnectError:
                with out.lock:
                    out.connection_refused += 1
                return  # the listener is closed: this client is done
            except httpx.HTTPError as exc:
                with out.lock:
                    out.broken.append((str(message["idempotencyKey"]), f"{exc!r}"))
                continue
            with out.lock:
                if resp.status_code == 202:
                    out.accepted.append(resp.json()["messageId"])
                elif resp.status_code == 503:
                    out.refused_503.append(resp)
                else:
                    out.broken.append(("", f"HTTP {resp.status_code}: {resp.text[:200]}"))


def log_events(stdout: str) -> list[dict[str, Any]]:
    events = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
    return events


def first_start_key(stdout: str) -> str:
    for line in stdout.splitlines():
        if line.startswith("key="):
            return line.split("=", 1)[1].strip()
    raise AssertionError(f"no key in the first-start output: {stdout!r}")


def test_sigterm_under_load_answers_in_flight_requests_and_refuses_new_ones(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = write_config(tmp_path, port, server={"port": port, "drain_seconds": 10})
    server = ServerProcess(config, port, tmp_path / "logs")
    server.start()
    out = Outcomes()
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        server.wait_ready()
        key = first_start_key(server.stdout_text())
        threads = [
            threading.Thread(target=client_loop, args=(server.base_url, key, out, stop))
            for _ in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        wait_until_sync(lambda: len(out.accepted) >= SIGNAL_AFTER or out.broken, timeout=60)
        assert out.broken == [], out.broken[:10]  # before the signal, everything is a 202

        code = server.stop(timeout=60)  # SIGTERM mid-load; waits for the exit

        for t in threads:
            t.join(timeout=60)
        assert code == 0, server.stderr_text()[-3000:]
        drained = [e for e in log_events(server.stdout_text()) if e["event"] == "http.drained"]
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        server.stop()

    # No admitted request left unanswered, in each process that served (one per worker).
    assert [e["inFlight"] for e in drained] == [0] * max(1, server.workers)
    assert [error for key, error in out.broken if not key] == []  # only 202, 503 or no answer
    assert len(out.accepted) >= SIGNAL_AFTER
    assert out.connection_refused == CLIENTS  # every client ran until the listener closed
    assert out.refused_503, "no request was answered 503 while the server drained"
    for resp in out.refused_503:
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert int(resp.headers["retry-after"]) > 0
        assert resp.json()["status"] == 503 and resp.json()["title"]

    server.start()
    try:
        server.wait_ready()
    finally:
        server.stop()
    db = tmp_path / "data" / "iep.db"
    stored = {row[0] for row in query(db, "SELECT id FROM messages")}
    keys = {row[0] for row in query(db, "SELECT idempotency_key FROM messages")}
    missing = [m for m in out.accepted if m not in stored]
    assert missing == [], f"{len(missing)} accepted messages are not in the database"
    # A request reset or cut without an answer was never processed: nothing of it committed.
    assert [error for key, error in out.broken if key in keys] == []
