"""One real appliance for the compatible-API tests: `iep serve` relaying to an SMTP sink.

Tenants `acme` (domain acme.example.com), `other` and `limited` (for rate limits), keys made
with the real CLI: `full` (send,read), `send-only`, `read-only`, `admin`, `sandbox` (acme),
`other`, `limited` and `limited-admin`. A WebhookSink
receives webhooks (private networks allowed). The SQLite file is readable for "nothing was
stored" checks.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.smtp_sink import SmtpSink
from tests.support.store_sql import query
from tests.support.webhook_sink import WebhookSink

# What an accepted send writes (delivery adds later events, so only accept-time ones count).
WRITTEN = (
    "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM jobs WHERE kind = 'send'),"
    " (SELECT count(*) FROM events WHERE type IN ('queued', 'scheduled')),"
    " (SELECT count(*) FROM attachments)"
)


def iep_json(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "iep_appliance", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"iep {' '.join(args)} failed:\n{done.stderr}"
    return json.loads(done.stdout)


class CompatDeployment:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.smtp = SmtpSink()
        self.hooks = WebhookSink()
        self.port = free_port()
        self.keys: dict[str, str] = {}
        self.db = tmp_path / "data" / "iep.db"
        self.server: ServerProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "CompatDeployment":
        self.smtp.start()
        self.hooks.start()
        config = write_config(
            self.tmp_path,
            self.port,
            delivery={"retry_schedule": [1, 1]},
            providers={
                "relay": {"type": "smtp", "host": "127.0.0.1", "port": self.smtp.port},
            },
            routing={"default_provider": "relay"},
            webhooks={"allow_private_networks": True, "retry_schedule": [1]},
            logging={"access_log": False},
        )
        cfg = str(config)
        for slug in ("acme", "other", "limited"):
            iep_json("tenant", "create", "--config", cfg, "--name", slug.title(), "--slug", slug,
                     "--domain", f"{slug}.example.com")  # fmt: skip
        for who, tenant, scopes in (("full", "acme", "send,read"), ("send-only", "acme", "send"),
                                    ("read-only", "acme", "read"), ("other", "other", "send,read"),
                                    ("admin", "acme", "admin"), ("limited", "limited", "send,read"),
                                    ("limited-admin", "limited", "admin")):  # fmt: skip
            key = iep_json("key", "create", "--config", cfg, "--tenant", tenant, "--scopes", scopes)
            self.keys[who] = key["key"]
        sandbox = iep_json("key", "create", "--config", cfg, "--tenant", "acme", "--scopes",
                           "send,read", "--sandbox")  # fmt: skip
        self.keys["sandbox"] = sandbox["key"]
        self.server = ServerProcess(config, self.port, self.tmp_path / "logs")
        self.server.start()
        self.server.wait_ready()
        return self

    def limit(self, per_minute: int) -> None:
        """Set the `limited` tenant's rate limit."""
        resp = httpx.patch(
            f"{self.url}/v1/tenant",
            json={"rateLimits": {"maxPerMinute": per_minute}},
            headers={"x-api-key": self.keys["limited-admin"]},
            trust_env=False,
        )
        assert resp.status_code == 200, resp.text

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.hooks.stop()
        self.smtp.stop()

    def written(self) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in query(self.db, WRITTEN)]
