"""An in-process appliance for the workflow tests (batches, scheduling, queues, sandbox).

A real Runtime on a real SQLite file under tmp_path, on the real clock, whose default
provider is an `smtp` provider pointing at the aiosmtpd sink, served by uvicorn on the
test's own event loop (as `iep serve` does) and called over real HTTP with httpx. (Litestar's
AsyncTestClient runs the app on a second loop in another thread and blocks the test's loop
for every request, so the delivery engine would freeze during requests and a write could
wait on the other loop.) The first-start key (tenant `default`, sender domain example.com,
every scope) is the default auth; `tenant()` makes another tenant with a key. `restart()`
stops server and Runtime and starts new ones on the same database.
"""

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from iep_appliance.app import build_app
from iep_appliance.clock import Clock
from iep_appliance.config import Config, parse
from iep_appliance.runtime import Runtime
from iep_appliance.services.tenants import create_tenant
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until

FINAL = ("sent", "failed", "bounced", "cancelled")


def batch_body(recipients: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "from": {"email": "news@example.com", "name": "Product"},
        "subject": "Hello {{name}}",
        "htmlBody": "<p>Hello {{name}}, your code is {{code}}</p>",
        "variables": {"name": "friend", "code": "none"},
        "recipients": recipients,
    }
    body.update(overrides)
    return body


def message_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "to": ["ada@example.org"],
        "from": {"email": "noreply@example.com", "name": "Product"},
        "subject": "Hello {{name}}",
        "htmlBody": "<p>Hello {{name}}</p>",
        "variables": {"name": "Ada"},
    }
    body.update(overrides)
    return body


class Env:
    def __init__(self, tmp_path: Path, sink: SmtpSink, clock: Clock | None = None) -> None:
        self.tmp_path = tmp_path
        self.sink = sink
        self.clock = clock
        self.sections: dict[str, Any] = {
            "storage": {"path": "data/iep.db", "attachments_dir": "data/attachments"},
            "delivery": {"concurrency": 8, "retry_schedule": [1, 1], "shutdown_grace_seconds": 5},
            "providers": {
                "outbox": {"type": "outbox"},
                "relay": {
                    "type": "smtp",
                    "host": "127.0.0.1",
                    "port": sink.port,
                    "connections": 4,
                    "timeout_seconds": 5,
                },
            },
            "routing": {"default_provider": "relay"},
            "breaker": {"min_requests": 1000},
            "logging": {"access_log": False},
        }
        self.runtime: Runtime | None = None
        self.client: httpx.AsyncClient | None = None
        self.server: uvicorn.Server | None = None
        self.serving: asyncio.Task[None] | None = None
        self.key = ""

    @property
    def config(self) -> Config:
        return parse(self.sections, self.tmp_path, environ={})

    @property
    def rt(self) -> Runtime:
        assert self.runtime is not None
        return self.runtime

    @property
    def http(self) -> httpx.AsyncClient:
        assert self.client is not None
        return self.client

    async def start(self) -> None:
        self.runtime = Runtime(self.config, clock=self.clock)
        await self.runtime.start()
        if self.runtime.first_start is not None:
            self.key = self.runtime.first_start.key
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(
                build_app(self.runtime),
                lifespan="off",
                ws="none",
                access_log=False,
                log_config=None,
                timeout_graceful_shutdown=5,
            )
        )
        self.serving = asyncio.create_task(self.server.serve(sockets=[sock]))
        await wait_until(lambda: self.server is not None and self.server.started, timeout=10)
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"x-api-key": self.key}, timeout=30
        )

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None
        if self.server is not None and self.serving is not None:
            self.server.should_exit = True
            await self.serving
            self.server = self.serving = None
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def tenant(self, slug: str, scopes: str = "send,read,admin", **key: Any) -> str:
        """A new tenant (sender domain example.com) and a key for it."""
        tenant = await create_tenant(self.rt.services.store, slug, slug.title(), ["example.com"])
        created = await self.rt.services.keys.create(tenant.id, scopes.split(","), name=slug, **key)
        return created.key

    async def key_for(self, scopes: str, sandbox: bool = False) -> str:
        """Another key of the default tenant."""
        tenant = await self.rt.services.store.get_tenant_by_slug("default")
        assert tenant is not None
        created = await self.rt.services.keys.create(tenant.id, scopes.split(","), sandbox=sandbox)
        return created.key

    async def message(self, message_id: str) -> dict[str, Any]:
        resp = await self.http.get(f"/v1/messages/{message_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def settled(self, message_id: str, within: float = 20.0) -> dict[str, Any]:
        async def final() -> dict[str, Any] | None:
            m = await self.message(message_id)
            return m if m["status"] in FINAL else None

        return await wait_until(final, timeout=within, message=f"{message_id} final")

    async def send(self, **overrides: Any) -> str:
        resp = await self.http.post("/v1/messages", json=message_body(**overrides))
        assert resp.status_code == 202, resp.text
        return resp.json()["messageId"]

    async def queue(self, name: str, **fields: Any) -> dict[str, Any]:
        resp = await self.http.post("/v1/queues", json={"name": name, **fields})
        assert resp.status_code == 201, resp.text
        return resp.json()


@pytest.fixture
async def env(tmp_path: Path, smtp_sink: SmtpSink) -> AsyncIterator[Env]:
    e = Env(tmp_path, smtp_sink)
    await e.start()
    try:
        yield e
    finally:
        await e.stop()
