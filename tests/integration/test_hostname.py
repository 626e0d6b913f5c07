"""The name the appliance gives itself (DESIGN §10.1 `[delivery] hostname`), seen by a real
SMTP server: the EHLO name the aiosmtpd sink recorded and the right side of the Message-ID
header of what arrived. Never `localhost` (this machine's FQDN is `localhost`)."""

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from iep_appliance.app import build_app
from iep_appliance.config import parse
from iep_appliance.domain.hostnames import own_hostname
from iep_appliance.runtime import Runtime
from tests.support.smtp_sink import Received, SmtpSink
from tests.support.waiting import wait_until


@asynccontextmanager
async def appliance(
    tmp_path: Path, sink: SmtpSink, **delivery: Any
) -> AsyncIterator[httpx.AsyncClient]:
    cfg = parse(
        {
            "server": {"port": 0},
            "storage": {"path": "data/iep.db", "attachments_dir": "data/attachments"},
            "delivery": {"retry_schedule": [1], "shutdown_grace_seconds": 5, **delivery},
            "providers": {
                "outbox": {"type": "outbox"},
                "relay": {"type": "smtp", "host": "127.0.0.1", "port": sink.port},
            },
            "routing": {"default_provider": "relay"},
            "logging": {"access_log": False},
        },
        tmp_path,
    )
    rt = Runtime(cfg)
    await rt.start()
    try:
        assert rt.first_start is not None
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(rt)),
            base_url="http://testserver",
            headers={"x-api-key": rt.first_start.key},
        ) as client:
            yield client
    finally:
        await rt.stop()


async def send_one(client: httpx.AsyncClient, sink: SmtpSink) -> Received:
    resp = await client.post(
        "/v1/messages",
        json={
            "to": ["ada@example.org"],
            "from": {"email": "noreply@example.com"},
            "subject": "Hi",
            "htmlBody": "<p>Hi</p>",
        },
    )
    assert resp.status_code == 202, resp.text
    await wait_until(lambda: len(sink.received) == 1, timeout=15)
    return sink.received[0]


def message_id_domain(item: Received) -> str:
    value = str(item.parsed["Message-ID"]).strip()
    assert value.startswith("<") and value.endswith(">"), value
    return value[1:-1].rpartition("@")[2]


async def test_the_configured_hostname_names_the_ehlo_and_the_message_id(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    async with appliance(tmp_path, smtp_sink, hostname="mail.iep-test.example") as client:
        item = await send_one(client, smtp_sink)

    assert item.helo == "mail.iep-test.example"
    assert message_id_domain(item) == "mail.iep-test.example"


async def test_without_a_usable_fqdn_the_senders_domain_stands_in_never_localhost(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    expected = own_hostname("", socket.getfqdn()) or "example.com"  # the FQDN if a real name

    async with appliance(tmp_path, smtp_sink) as client:
        item = await send_one(client, smtp_sink)

    assert item.helo == expected and message_id_domain(item) == expected
    assert "localhost" not in (item.helo, message_id_domain(item))
