"""The Postfix round trip: the real `iep serve` relays through Debian's Postfix to a
local address that does not exist; Postfix accepts it, fails the local delivery and mails its
own DSN to IEP's VERP envelope sender, which its transport map sends to IEP's inbound port.
The message ends `bounced` with 5.1.1 and the address is suppressed."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.postfix import PostfixRelay
from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.waiting import wait_until_sync

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not PostfixRelay.available(), reason="Debian's postfix is not installed"),
]
BOUNCE_DOMAIN = "bounces.iep.test"


@pytest.fixture
def inbound_port() -> int:
    return free_port()


@pytest.fixture
def postfix(inbound_port: int) -> Any:
    with PostfixRelay(inbound_port, BOUNCE_DOMAIN) as mta:
        yield mta


@pytest.fixture
def server(tmp_path: Path, postfix: PostfixRelay, inbound_port: int) -> Any:
    port = free_port()
    config = write_config(
        tmp_path,
        port,
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": postfix.port}},
        routing={"default_provider": "relay"},
        inbound={"enabled": True, "port": inbound_port, "bounce_domain": BOUNCE_DOMAIN},
        logging={"access_log": False},
    )
    with ServerProcess(config, port, tmp_path / "logs") as proc:
        yield proc


def test_postfixs_own_dsn_for_an_unknown_local_user_bounces_the_message_and_suppresses(
    server: ServerProcess, tmp_path: Path, postfix: PostfixRelay
) -> None:
    text = (tmp_path / "data" / "initial-credentials.txt").read_text()
    key = next(line[4:] for line in text.splitlines() if line.startswith("key="))
    rcpt = "nosuchuser@localmail.example.org"
    with httpx.Client(
        base_url=server.base_url, headers={"x-api-key": key}, timeout=30, trust_env=False
    ) as client:
        resp = client.post(
            "/v1/messages",
            json={
                "to": [rcpt],
                "from": {"email": "noreply@example.com"},
                "subject": "Hello",
                "htmlBody": "<p>Hello</p>",
            },
        )
        assert resp.status_code == 202, resp.text
        message_id = resp.json()["messageId"]

        def bounced() -> Any:
            found = client.get(f"/v1/messages/{message_id}").json()
            return found if found["status"] == "bounced" else None

        try:
            found = wait_until_sync(bounced, timeout=90, message="message bounced")
        except AssertionError:
            raise AssertionError(f"postfix log:\n{postfix.log()[-4000:]}") from None
        types = [e["type"] for e in found["events"]]
        assert types.index("sent") < types.index("bounced")  # accepted first, bounced later
        event = next(e for e in found["events"] if e["type"] == "bounced")
        assert event["data"]["status"] == "5.1.1"
        assert event["data"]["kind"] == "hard"
        assert event["data"]["recipient"] == rcpt
        listed = client.get("/v1/suppressions").json()["data"]
        assert [(s["email"], s["reason"], s["sourceMessageId"]) for s in listed] == [
            (rcpt, "hard_bounce", message_id)
        ]
    assert "from=<bounce+" in postfix.log()
