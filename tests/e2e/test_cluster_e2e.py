"""Three `iep serve` nodes on one PostgreSQL schema and one S3 bucket (moto), the real
processes: each /ready names its node and backend and exactly one runs the singletons; a key
revoked through one node is refused by every node within a second; under load across the
three, a SIGKILLed node restarted releases its own leases and no accepted message is lost."""

import json
import os
import secrets
import signal
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest

from tests.support.postgres import fresh_schema
from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.s3_server import ENVIRON, S3Server, s3_server
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
MAIL = {"from": "noreply@example.com", "subject": "s", "textBody": "t"}


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server("iep-cluster") as server:
        yield server


def node(tmp: Path, name: str, s3: S3Server, sink: SmtpSink, env: dict[str, str]) -> ServerProcess:
    port = free_port()
    config = write_config(
        tmp / name,
        port,
        server={"port": port, "node_id": name},
        storage={"backend": "postgresql"},
        blobs={"backend": "s3", "bucket": s3.bucket, "prefix": "c", "endpoint_url": s3.url},
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": sink.port}},
        routing={"default_provider": "relay"},
    )
    return ServerProcess(config, port, tmp / name / "logs", env=env, workers=0)


def test_three_nodes_share_one_postgresql_store(tmp_path: Path, s3: S3Server) -> None:
    with fresh_schema() as (url, schema), SmtpSink() as sink:
        sep = "&" if "?" in url else "?"
        env = {
            **ENVIRON,
            "IEP_DATABASE_URL": f"{url}{sep}options={quote(f'-csearch_path={schema}')}",
            "IEP_SECRET_KEY": secrets.token_hex(32),
        }
        nodes = [node(tmp_path, f"n{i}", s3, sink, env) for i in (1, 2, 3)]
        nodes[0].start().wait_ready(60)
        key = next(
            line.split("=", 1)[1]
            for line in nodes[0].stdout_text().splitlines()
            if line.startswith("key=")
        )
        for n in nodes[1:]:
            n.start()
        try:
            for n in nodes[1:]:
                n.wait_ready(60)
            ready = [httpx.get(f"{n.base_url}/ready", trust_env=False).json() for n in nodes]
            assert [r["node"] for r in ready] == ["n1", "n2", "n3"]
            assert {r["backend"] for r in ready} == {"postgresql"}
            wait_until_sync(
                lambda: (
                    sum(
                        httpx.get(f"{n.base_url}/ready", trust_env=False).json()["singletons"]
                        for n in nodes
                    )
                    == 1
                ),
                timeout=15,
                message="one node holding the singletons",
            )

            # ---- a scheduled tick, due at once, runs once across the three ---------------
            job_id = _tick_due_now(nodes, key, url, schema)
            wait_until_sync(
                lambda: len(_runs(nodes[0], key, job_id)) >= 1,
                timeout=30,
                message="the due tick run by the singleton holder",
            )
            wait_until_sync(
                lambda: _at_sink(sink, "digest@example.org") >= 1,
                timeout=30,
                message="the tick's message at the sink",
            )
            # The job is every minute: paused now, so a minute boundary crossed on a slow machine
            # adds no later tick; each tick it did run must have run once (checked below).
            paused = httpx.patch(
                f"{nodes[0].base_url}/v1/scheduled-jobs/{job_id}",
                headers={"x-api-key": key},
                json={"active": False},
                trust_env=False,
            )
            assert paused.status_code == 200, paused.text

            # ---- load across the three, one SIGKILLed and restarted ---------------------
            def send(i: int) -> str | None:
                n = nodes[i % 3]
                try:
                    r = httpx.post(
                        f"{n.base_url}/v1/messages",
                        headers={"x-api-key": key},
                        json={**MAIL, "to": [f"u{i}@example.org"]},
                        trust_env=False,
                        timeout=30,
                    )
                except httpx.TransportError:
                    return None  # in flight at the kill: not accepted
                return str(r.json()["messageId"]) if r.status_code == 202 else None

            with ThreadPoolExecutor(6) as pool:
                first = list(pool.map(send, range(60)))
                os.kill(nodes[1].pid, signal.SIGKILL)
                nodes[1].proc.wait(10)  # type: ignore[union-attr]
                # What the dead node held: the only sends another node may send again.
                in_flight = _leased_by(url, schema, "n2")
                second = list(pool.map(send, range(60, 90)))
            accepted = {m for m in first + second if m}
            assert len(accepted) >= 80
            nodes[1].start().wait_ready(60)
            wait_until_sync(
                lambda: _delivered(sink) >= len(accepted) + 1,  # + the tick's message
                timeout=90,
                message="every accepted message at the sink",
            )
            runs = _runs(nodes[2], key, job_id)  # whichever node is asked
            assert len(runs) >= 1
            assert len({r["tick"] for r in runs}) == len(runs), runs  # each tick once
            assert all(r["error"] is None and r["messageId"] for r in runs), runs
            wait_until_sync(
                lambda: _at_sink(sink, "digest@example.org") >= len(runs),
                timeout=30,
                message="every tick's message at the sink",
            )
            assert _at_sink(sink, "digest@example.org") == len(runs)  # one message per tick
            sent_twice = _sent_twice(sink) - {"digest@example.org"}
            recipients = _recipients(url, schema, in_flight)
            assert sent_twice <= recipients, (sent_twice, recipients)

            # ---- a key revoked through one node, refused by all within a second --------
            made = httpx.post(
                f"{nodes[0].base_url}/v1/api-keys",
                headers={"x-api-key": key},
                json={"name": "doomed", "scopes": ["send", "read"]},
                trust_env=False,
            ).json()
            for n in nodes:  # cached as valid in every node
                assert _get(n, made["key"]) == 200
            gone = httpx.delete(
                f"{nodes[2].base_url}/v1/api-keys/{made['id']}",
                headers={"x-api-key": key},
                trust_env=False,
            )
            assert gone.status_code == 204
            wait_until_sync(
                lambda: all(_get(n, made["key"]) == 401 for n in nodes),
                timeout=1.0,
                message="the revocation seen by every node",
            )
        finally:
            for n in nodes:
                n.stop()


def _get(n: ServerProcess, key: str) -> int:
    return httpx.get(
        f"{n.base_url}/v1/messages", headers={"x-api-key": key}, trust_env=False
    ).status_code


def _delivered(sink: SmtpSink) -> int:
    return len({r.parsed["To"] for r in sink.received})


def _tick_due_now(nodes: list[ServerProcess], key: str, url: str, schema: str) -> str:
    """An every-minute job created through one node, its next tick moved a minute back, and a
    change through another node (the change feed wakes the holder's ticker)."""
    headers = {"x-api-key": key}
    message = {**MAIL, "to": ["digest@example.org"]}
    made = httpx.post(
        f"{nodes[2].base_url}/v1/scheduled-jobs",
        headers=headers,
        json={"name": "digest", "cron": "* * * * *", "message": message},
        trust_env=False,
    )
    assert made.status_code == 201, made.text
    job_id = str(made.json()["id"])
    past = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f'UPDATE "{schema}".scheduled_jobs SET next_run_at = %s WHERE id = %s',
            (past.strftime("%Y-%m-%dT%H:%M:%S.000Z"), job_id),
        )
    other = httpx.post(
        f"{nodes[1].base_url}/v1/scheduled-jobs",
        headers=headers,
        json={"name": "yearly", "cron": "0 0 1 1 *", "message": message},
        trust_env=False,
    )
    assert other.status_code == 201, other.text
    return job_id


def _runs(n: ServerProcess, key: str, job_id: str) -> list[dict[str, object]]:
    r = httpx.get(
        f"{n.base_url}/v1/scheduled-jobs/{job_id}/runs",
        headers={"x-api-key": key},
        trust_env=False,
    )
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


def _leased_by(url: str, schema: str, owner: str) -> set[str]:
    """The message ids of the sends `owner` held a lease on."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            f'SELECT ref_id FROM "{schema}".jobs'
            " WHERE kind = 'send' AND state = 'leased' AND lease_owner = %s",
            (owner,),
        ).fetchall()
    return {str(r[0]) for r in rows}


def _recipients(url: str, schema: str, message_ids: set[str]) -> set[str]:
    if not message_ids:
        return set()
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            f'SELECT to_addrs FROM "{schema}".messages WHERE id = ANY(%s)',
            (list(message_ids),),
        ).fetchall()
    addresses = [a for (value,) in rows for a in json.loads(value)]
    return {str(a["email"] if isinstance(a, dict) else a) for a in addresses}


def _at_sink(sink: SmtpSink, address: str) -> int:
    return sum(1 for r in sink.received if r.parsed["To"] == address)


def _sent_twice(sink: SmtpSink) -> set[str]:
    counts = Counter(str(r.parsed["To"]) for r in sink.received)
    return {address for address, n in counts.items() if n > 1}
