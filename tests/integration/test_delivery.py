"""The delivery engine end to end inside one process: API → store → scheduler → sender → SMTP.

A real Runtime on a tmp config whose default provider is an `smtp` provider pointing at the
scriptable aiosmtpd sink; `delivery.retry_schedule` is [1, 1] so retries run on the real
clock within seconds. What arrives at the sink is parsed with the stdlib parser.
"""

import base64
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from iep_appliance.app import build_app
from iep_appliance.config import parse
from iep_appliance.domain.render import check_template
from iep_appliance.runtime import Runtime
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until

FINAL = ("sent", "failed", "bounced")


@dataclass
class Env:
    rt: Runtime
    client: httpx.AsyncClient
    sink: SmtpSink

    async def send(self, **overrides: Any) -> str:
        body = {
            "to": ["ada@example.org"],
            "from": {"email": "noreply@example.com", "name": "Product"},
            "subject": "Hello {{name}}",
            "htmlBody": "<p>Hello {{name}}</p>",
            "variables": {"name": "Ada"},
            **overrides,
        }
        resp = await self.client.post("/v1/messages", json=body)
        assert resp.status_code == 202, resp.text
        return resp.json()["messageId"]

    async def message(self, message_id: str) -> dict[str, Any]:
        resp = await self.client.get(f"/v1/messages/{message_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def settled(self, message_id: str, within: float = 15.0) -> dict[str, Any]:
        """The message once it reaches a final status."""

        async def final() -> dict[str, Any] | None:
            m = await self.message(message_id)
            return m if m["status"] in FINAL else None

        return await wait_until(final, timeout=within, message=f"{message_id} final")


def event_types(message: dict[str, Any]) -> list[str]:
    return [e["type"] for e in message["events"]]


def runtime_config(tmp_path: Path, sink_port: int, **delivery: Any) -> Any:
    return parse(
        {
            "server": {"port": 0},
            "storage": {"path": "data/iep.db", "attachments_dir": "data/attachments"},
            "delivery": {
                "concurrency": 4,
                "retry_schedule": [1, 1],
                "shutdown_grace_seconds": 5,
                **delivery,
            },
            "providers": {
                "outbox": {"type": "outbox"},
                "relay": {
                    "type": "smtp",
                    "host": "127.0.0.1",
                    "port": sink_port,
                    "connections": 2,
                    "timeout_seconds": 5,
                },
            },
            "routing": {"default_provider": "relay"},
            # Failures are the point of these tests: keep the breaker out of the way.
            "breaker": {"min_requests": 1000},
            "logging": {"access_log": False},
        },
        tmp_path,
    )


@pytest.fixture
async def env(tmp_path: Path, smtp_sink: SmtpSink) -> AsyncIterator[Env]:
    rt = Runtime(runtime_config(tmp_path, smtp_sink.port))
    await rt.start()
    try:
        assert rt.first_start is not None
        # ASGITransport serves on the test's own loop, where the Runtime lives (Litestar's
        # AsyncTestClient would block this loop while a portal thread serves the request).
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(rt)),
            base_url="http://testserver",
            headers={"x-api-key": rt.first_start.key},
        ) as client:
            yield Env(rt, client, smtp_sink)
    finally:
        await rt.stop()


# ---- a complete message --------------------------------------------------------------------


async def test_message_with_cc_bcc_variables_and_attachment_arrives_intact(env: Env) -> None:
    pdf = os.urandom(3000) + b"\r\n.\r\n\x00end"  # a dot line and NUL: must survive untouched
    message_id = await env.send(
        to=["ada@example.org", "bob@example.org"],
        cc=["carol@example.org"],
        bcc=["dave@example.org"],
        **{"from": {"email": "noreply@example.com", "name": "Zoë Ünïcode 東京"}},
        replyTo="support@example.com",
        subject="Grüße, {{name}} — 請求書",
        htmlBody="<h1>Hi {{name}}</h1><p>{{note}}</p><a href='https://x.test/a'>link</a>",
        textBody="Hi {{name}}, note: {{note}}",
        variables={"name": "Zoë", "note": "<b>bold</b> & more"},
        attachments=[
            {
                "filename": "résumé été 2026.pdf",
                "content": base64.b64encode(pdf).decode(),
                "contentType": "application/pdf",
            }
        ],
    )
    final = await env.settled(message_id)
    assert final["status"] == "sent", final
    assert event_types(final) == ["queued", "processing", "sent"]
    assert final["attempts"] == 1
    assert final["provider"] == "relay"
    assert final["subject"] == "Grüße, Zoë — 請求書"

    [got] = env.sink.received
    assert got.mail_from == "noreply@example.com"
    assert sorted(got.rcpt_tos) == [
        "ada@example.org",
        "bob@example.org",
        "carol@example.org",
        "dave@example.org",
    ]
    msg = got.parsed
    assert "Bcc" not in msg
    assert b"dave@example.org" not in got.data
    assert msg["From"].addresses[0].display_name == "Zoë Ünïcode 東京"
    assert msg["From"].addresses[0].addr_spec == "noreply@example.com"
    assert [a.addr_spec for a in msg["To"].addresses] == ["ada@example.org", "bob@example.org"]
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["carol@example.org"]
    assert msg["Reply-To"].addresses[0].addr_spec == "support@example.com"
    assert str(msg["Subject"]) == "Grüße, Zoë — 請求書"
    assert msg["X-IEP-Message-Id"] == message_id
    assert message_id in msg["Message-ID"]
    assert msg["Date"].datetime is not None
    assert msg.get_content_type() == "multipart/mixed"

    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content() == "Hi Zoë, note: <b>bold</b> & more"
    assert "<h1>Hi Zoë</h1>" in html.get_content()
    assert "<p>&lt;b&gt;bold&lt;/b&gt; &amp; more</p>" in html.get_content()
    assert "<b>bold</b>" not in html.get_content()

    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "résumé été 2026.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == pdf
    # No line over the RFC 5322 hard limit, CRLF everywhere.
    assert all(len(line) <= 998 for line in got.data.split(b"\r\n"))
    assert b"\n" not in got.data.replace(b"\r\n", b"")


async def test_html_only_message_gets_a_generated_text_part_with_links(env: Env) -> None:
    message_id = await env.send(
        htmlBody="<p>Hi {{name}}, see <a href='https://x.test/r'>your receipt</a></p>"
    )
    assert (await env.settled(message_id))["status"] == "sent"
    [got] = env.sink.received
    text = got.parsed.get_body(("plain",))
    assert text is not None
    assert "Hi Ada" in text.get_content()
    assert "https://x.test/r" in text.get_content()


# ---- transient failures and the retry schedule ---------------------------------------------


async def test_451_twice_then_accept_is_sent_after_three_attempts(env: Env) -> None:
    env.sink.script_rcpt("ada@example.org", "451 4.3.0 try later", "451 4.3.0 try later")
    message_id = await env.send()
    final = await env.settled(message_id)
    assert final["status"] == "sent", final
    assert final["attempts"] == 3
    assert event_types(final).count("retry_scheduled") == 2
    assert event_types(final)[-1] == "sent"
    assert env.sink.rcpt_attempts("ada@example.org") == 3
    assert len(env.sink.received) == 1


async def test_always_451_fails_into_the_dlq_after_the_schedule(env: Env) -> None:
    env.sink.set_rcpt_rule(lambda address, attempt: "451 4.3.0 mailbox busy")
    message_id = await env.send()
    final = await env.settled(message_id)
    assert final["status"] == "failed", final
    assert final["attempts"] == 3  # len(retry_schedule) + 1
    types = event_types(final)
    assert types.count("retry_scheduled") == 2
    assert types[-2:] == ["failed", "dlq"]
    assert "451" in final["lastError"]
    assert env.sink.received == []
    depth = await env.rt.services.store.queue_depth()
    assert depth.get("dead") == 1


async def test_dropped_connection_is_retried_and_sent(env: Env) -> None:
    env.sink.drop_line(at="rcpt", times=1)
    message_id = await env.send()
    final = await env.settled(message_id)
    assert final["status"] == "sent", final
    assert final["attempts"] == 2
    assert "retry_scheduled" in event_types(final)
    [retry] = [e for e in final["events"] if e["type"] == "retry_scheduled"]
    assert "network" in retry["data"]["error"]
    assert env.sink.by_iep_id() == {message_id: 1}


async def test_connection_dropped_after_data_is_retried(env: Env) -> None:
    # The ambiguous case: the relay may or may not have taken it. At-least-once: send again.
    env.sink.drop_line(at="data", times=1)
    message_id = await env.send()
    final = await env.settled(message_id)
    assert final["status"] == "sent", final
    assert final["attempts"] == 2
    assert env.sink.by_iep_id() == {message_id: 1}


# ---- permanent failures ----------------------------------------------------------------------


async def test_554_at_data_fails_at_once_and_the_retry_endpoint_resends(env: Env) -> None:
    env.sink.script_data("554 5.6.0 Message content rejected")
    message_id = await env.send()
    final = await env.settled(message_id)
    assert final["status"] == "failed", final
    assert final["attempts"] == 1
    assert final["lastError"] == "554 5.6.0 Message content rejected (at DATA)"
    assert "retry_scheduled" not in event_types(final)
    assert "dlq" not in event_types(final)
    assert env.sink.received == []

    resp = await env.client.post(f"/v1/messages/{message_id}/retry")
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"messageId": message_id, "status": "queued"}
    again = await env.settled(message_id)
    assert again["status"] == "sent", again
    assert again["attempts"] == 1
    assert again["lastError"] is None
    assert event_types(again)[-3:] == ["queued", "processing", "sent"]
    assert env.sink.by_iep_id() == {message_id: 1}


async def test_retry_endpoint_answers_409_unless_the_message_failed(env: Env) -> None:
    message_id = await env.send()
    assert (await env.settled(message_id))["status"] == "sent"
    resp = await env.client.post(f"/v1/messages/{message_id}/retry")
    assert resp.status_code == 409
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert len(env.sink.received) == 1


async def test_retry_endpoint_answers_404_for_an_unknown_message(env: Env) -> None:
    resp = await env.client.post("/v1/messages/0190aaaa-0000-7000-8000-000000000000/retry")
    assert resp.status_code == 404


async def test_550_at_rcpt_for_the_only_recipient_bounces_without_retry(env: Env) -> None:
    env.sink.script_rcpt("ada@example.org", "550 5.1.1 no such user")
    message_id = await env.send()
    final = await env.settled(message_id)
    assert final["status"] == "bounced", final
    assert final["attempts"] == 1
    assert "550" in final["lastError"]
    types = event_types(final)
    assert "retry_scheduled" not in types
    [bounce] = [e for e in final["events"] if e["type"] == "bounced"]
    assert bounce["data"]["recipient"] == "ada@example.org"
    assert env.sink.rcpt_attempts("ada@example.org") == 1
    assert env.sink.data_attempts == 0


@pytest.mark.parametrize(
    "html",
    ["<p>{{> nope}}</p>", "<p>{{shout name}}</p>"],
    ids=["missing-partial", "unknown-helper"],
)
async def test_a_render_failure_fails_without_a_send(env: Env, html: str) -> None:
    assert check_template(html) is None  # parses at POST, fails only at render time
    message_id = await env.send(htmlBody=html)
    final = await env.settled(message_id)
    assert final["status"] == "failed", final
    assert final["attempts"] == 1
    assert final["lastError"].startswith("render failed")
    assert event_types(final) == ["queued", "processing", "failed"]
    assert env.sink.data_attempts == 0
    assert env.sink.rcpt_attempts("ada@example.org") == 0


# ---- per-recipient outcomes and suppression --------------------------------------------------


async def test_one_refused_rcpt_of_three_delivers_to_two_and_bounces_one(env: Env) -> None:
    env.sink.script_rcpt("bob@example.org", "550 5.1.1 no such user")
    message_id = await env.send(to=["ada@example.org", "bob@example.org", "carol@example.org"])
    final = await env.settled(message_id)
    assert final["status"] == "sent", final
    [got] = env.sink.received
    assert sorted(got.rcpt_tos) == ["ada@example.org", "carol@example.org"]
    bounces = [e for e in final["events"] if e["type"] == "bounced"]
    assert [b["data"]["recipient"] for b in bounces] == ["bob@example.org"]
    assert "550" in bounces[0]["data"]["error"]


async def test_three_hard_bounces_suppress_the_address(env: Env) -> None:
    env.sink.set_rcpt_rule(
        lambda address, attempt: "550 5.1.1 gone" if address == "gone@example.org" else None
    )
    for _ in range(3):
        message_id = await env.send(to=["gone@example.org"])
        assert (await env.settled(message_id))["status"] == "bounced"
    resp = await env.client.post(
        "/v1/messages",
        json={
            "to": ["gone@example.org", "ada@example.org"],
            "from": "noreply@example.com",
            "subject": "Fourth",
            "htmlBody": "<p>x</p>",
        },
    )
    assert resp.status_code == 202
    assert resp.json()["suppressedRecipients"] == ["gone@example.org"]
    fourth = await env.settled(resp.json()["messageId"])
    assert fourth["status"] == "sent", fourth
    [skipped] = [e for e in fourth["events"] if e["type"] == "suppressed"]
    assert skipped["data"]["recipient"] == "gone@example.org"
    assert env.sink.rcpt_attempts("gone@example.org") == 3
    assert env.sink.received[-1].rcpt_tos == ("ada@example.org",)

    # Every recipient suppressed: not sent, and it says so.
    only = await env.send(to=["gone@example.org"])
    final = await env.settled(only)
    assert final["status"] == "failed"
    assert "suppressed" in final["lastError"]
    assert "suppressed" in event_types(final)
    assert env.sink.rcpt_attempts("gone@example.org") == 3


# ---- metrics ----------------------------------------------------------------------------------


async def test_metrics_count_sends_durations_errors_and_queue_depth(env: Env) -> None:
    env.sink.script_rcpt("ada@example.org", "451 4.3.0 later")
    message_id = await env.send()
    assert (await env.settled(message_id))["status"] == "sent"
    tenant = await env.rt.services.store.get_tenant_by_slug("default")
    assert tenant is not None
    labels = f'provider="relay",status="{{}}",tenant="{tenant.id}"'
    sent = f"iep_messages_total{{{labels.format('sent')}}} 1.0"

    async def scraped() -> str | None:
        # The sender counts right after the commit the API read may already have seen.
        resp = await env.client.get("/metrics")
        assert resp.status_code == 200
        return resp.text if sent in resp.text else None

    text = await wait_until(scraped, timeout=5, message="sent counted")
    assert f"iep_messages_total{{{labels.format('retry_scheduled')}}} 1.0" in text
    assert "iep_message_duration_seconds_count 1.0" in text
    assert 'iep_provider_errors_total{error_type="transient",provider="relay"} 1.0' in text
    assert 'iep_queue_depth{state="done"} 1.0' in text
    assert 'iep_queue_depth{state="ready"} 0.0' in text
    assert "iep_oldest_ready_job_age_seconds 0.0" in text


async def test_a_job_of_a_kind_nothing_handles_is_dead_lettered_not_left_leased(env: Env) -> None:
    import sqlite3

    conn = sqlite3.connect(env.rt.config.storage.path, timeout=10)
    try:
        with conn:
            job_id = conn.execute(
                "INSERT INTO jobs (kind, ref_id, tenant_id, run_at, max_attempts, created_at,"
                " updated_at) VALUES ('mystery', 'x', 't', '2000-01-01T00:00:00.000Z', 3,"
                " '2000-01-01T00:00:00.000Z', '2000-01-01T00:00:00.000Z')"
            ).lastrowid
    finally:
        conn.close()
    assert env.rt.services.delivery is not None
    env.rt.services.delivery.wake()

    def state() -> tuple[str, str] | None:
        check = sqlite3.connect(env.rt.config.storage.path, timeout=10)
        try:
            row = check.execute(
                "SELECT state, last_error FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        finally:
            check.close()
        return row if row[0] == "dead" else None

    found = await wait_until(state, timeout=10, message="mystery job dead-lettered")
    assert found == ("dead", "no handler for job kind 'mystery'")
