"""Sandbox mode end to end: a sandbox key (`iep_test_…`, from the CLI or
`POST /v1/api-keys`) or the tenant's sandbox switch runs the whole pipeline (validation,
rendering, events, webhooks) but delivers only to the outbox; events and webhooks say
`sandbox: true`. The SMTP sink is the default provider, so anything leaking would land there."""

import asyncio
import json
import sys
from typing import Any

from tests.integration.workflows.conftest import Env, batch_body
from tests.support.problems import assert_problem
from tests.support.waiting import wait_until
from tests.support.webhook_sink import WebhookSink


async def outbox_of(env: Env, message_id: str) -> bytes | None:
    """The MIME the outbox kept for a message of the default tenant."""
    tenant = await env.rt.services.store.get_tenant_by_slug("default")
    assert tenant is not None
    return await env.rt.services.store.get_outbox(tenant.id, message_id)


async def prove_sink_is_live(env: Env) -> None:
    """A normal message sent after the sandbox ones reaches the sink: anything leaking from
    the sandbox would have arrived before it."""
    live = await env.send(to=["live@example.org"])
    await wait_until(lambda: live in env.sink.by_iep_id(), timeout=15)
    assert [r.rcpt_tos for r in env.sink.received] == [("live@example.org",)]


def sandboxed_events(message: dict[str, Any]) -> bool:
    return all(e["data"].get("sandbox") is True for e in message["events"])


async def test_sandbox_keys_message_reaches_the_outbox_and_never_the_smtp_sink(env: Env) -> None:
    key = await env.key_for("send,read", sandbox=True)
    assert key.startswith("iep_test_")
    headers = {"x-api-key": key}
    resp = await env.http.post(
        "/v1/messages",
        json={
            "to": ["ada@example.org"],
            "from": {"email": "noreply@example.com"},
            "subject": "Preview for {{name}}",
            "htmlBody": "<p>Hi {{name}}</p>",
            "variables": {"name": "Ada"},
        },
        headers=headers,
    )
    assert resp.status_code == 202, resp.text
    message_id = resp.json()["messageId"]
    final = await env.settled(message_id)
    assert final["status"] == "sent" and final["provider"] == "outbox"
    assert final["sandbox"] is True and final["subject"] == "Preview for Ada"
    assert [e["type"] for e in final["events"]] == ["queued", "processing", "sent"]
    assert sandboxed_events(final)
    mime = await outbox_of(env, message_id)
    assert mime is not None and b"Preview for Ada" in mime and message_id.encode() in mime
    await prove_sink_is_live(env)


async def test_sandbox_batch_goes_entirely_to_the_outbox(env: Env) -> None:
    key = await env.key_for("send,read", sandbox=True)
    recipients = [{"to": [f"s{i}@example.org"], "variables": {"name": f"S{i}"}} for i in range(20)]
    resp = await env.http.post(
        "/v1/messages/batch", json=batch_body(recipients), headers={"x-api-key": key}
    )
    assert resp.status_code == 202, resp.text
    batch_id = resp.json()["batchId"]

    async def all_sent() -> bool:
        batch = (await env.http.get(f"/v1/batches/{batch_id}")).json()
        return batch["counts"] == {"sent": 20}

    await wait_until(all_sent, timeout=20)
    page = (await env.http.get(f"/v1/batches/{batch_id}/messages", params={"limit": 20})).json()
    for item in page["data"]:
        assert item["sandbox"] is True and item["provider"] == "outbox"
        assert await outbox_of(env, item["messageId"]) is not None
    await prove_sink_is_live(env)


async def test_tenant_sandbox_switch_sends_a_normal_keys_messages_to_the_outbox(env: Env) -> None:
    switched = await env.http.patch("/v1/tenant", json={"sandbox": True})
    assert switched.status_code == 200 and switched.json()["sandbox"] is True
    message_id = await env.send(to=["tenant-sandbox@example.org"])
    final = await env.settled(message_id)
    assert (final["status"], final["provider"], final["sandbox"]) == ("sent", "outbox", True)
    assert sandboxed_events(final)
    assert await outbox_of(env, message_id) is not None
    await env.http.patch("/v1/tenant", json={"sandbox": False})
    await prove_sink_is_live(env)


async def test_sandbox_key_from_the_api_delivers_to_the_outbox(env: Env) -> None:
    resp = await env.http.post(
        "/v1/api-keys", json={"name": "preview", "scopes": ["send", "read"], "sandbox": True}
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["sandbox"] is True and resp.json()["key"].startswith("iep_test_")
    sent = await env.http.post(
        "/v1/messages",
        json={
            "to": ["api-key@example.org"],
            "from": {"email": "noreply@example.com"},
            "subject": "Hi",
            "htmlBody": "<p>Hi</p>",
        },
        headers={"x-api-key": resp.json()["key"]},
    )
    assert sent.status_code == 202, sent.text
    final = await env.settled(sent.json()["messageId"])
    assert (final["provider"], final["sandbox"]) == ("outbox", True)
    await prove_sink_is_live(env)


async def test_sandbox_key_from_the_cli_delivers_to_the_outbox(env: Env) -> None:
    config = env.tmp_path / "iep.toml"
    config.write_text(
        '[storage]\npath = "data/iep.db"\nattachments_dir = "data/attachments"\n',
        encoding="utf-8",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "iep_appliance",
        "key",
        "create",
        "--config",
        str(config),
        "--tenant",
        "default",
        "--scopes",
        "send,read",
        "--sandbox",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    key = json.loads(out)["key"]
    assert key.startswith("iep_test_")
    message_id = (
        await env.http.post(
            "/v1/messages",
            json={
                "to": ["cli@example.org"],
                "from": {"email": "noreply@example.com"},
                "subject": "Hi",
                "htmlBody": "<p>Hi</p>",
            },
            headers={"x-api-key": key},
        )
    ).json()["messageId"]
    final = await env.settled(message_id)
    assert (final["provider"], final["sandbox"]) == ("outbox", True)
    await prove_sink_is_live(env)


async def test_sandbox_webhooks_say_sandbox(env: Env, webhook_sink: WebhookSink) -> None:
    env.sections["webhooks"] = {"allow_private_networks": True, "retry_schedule": [1]}
    await env.restart()
    hook = await env.http.post(
        "/v1/webhooks", json={"url": webhook_sink.url("/hook"), "events": ["message.sent"]}
    )
    assert hook.status_code == 201, hook.text
    key = await env.key_for("send,read", sandbox=True)
    sent = await env.http.post(
        "/v1/messages",
        json={
            "to": ["hooked@example.org"],
            "from": {"email": "noreply@example.com"},
            "subject": "Hi",
            "htmlBody": "<p>Hi</p>",
        },
        headers={"x-api-key": key},
    )
    message_id = sent.json()["messageId"]
    await wait_until(lambda: len(webhook_sink.requests) == 1, timeout=20, message="webhook")
    payload = webhook_sink.requests[0].json()
    assert payload["event"] == "message.sent" and payload["messageId"] == message_id
    assert payload["data"]["sandbox"] is True and payload["data"]["provider"] == "outbox"
    assert env.sink.received == []


async def test_a_sandbox_key_still_needs_its_scopes(env: Env) -> None:
    key = await env.key_for("read", sandbox=True)
    resp = await env.http.post(
        "/v1/messages/batch",
        json=batch_body([{"to": ["a@example.org"]}]),
        headers={"x-api-key": key},
    )
    assert_problem(resp, 403)
