"""Webhook signing secrets at rest (DESIGN §10): the database holds them sealed under the master
key, never the `whsec_…` a tenant signs with; deliveries are still signed with it; a secret
stored in plaintext by an earlier version is sealed at the next start and keeps working; one
sealed under another master key is dropped (dead, never retried), not sent unsigned."""

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

import httpx

from iep_appliance.app import build_app
from iep_appliance.domain.scopes import ALL_SCOPES
from iep_appliance.runtime import Runtime
from iep_appliance.services.secret_box import SecretBox
from iep_appliance.services.webhook_secrets import context, open_text, seal_text
from tests.integration.test_webhooks import (
    Env,
    appliance,
    config,
    verify_iep,
    verify_standard,
)
from tests.support.endpoints import endpoint_record
from tests.support.waiting import wait_until
from tests.support.webhook_sink import WebhookSink


@asynccontextmanager
async def restarted(tmp_path: Path, sink: WebhookSink) -> AsyncIterator[Env]:
    """The appliance started again on the same data (no first-start key: a new one)."""
    rt = Runtime(config(tmp_path))
    await rt.start()
    try:
        tenant = await rt.services.store.get_tenant_by_slug("default")
        assert tenant is not None
        key = (await rt.services.keys.create(tenant.id, list(ALL_SCOPES))).key
        transport = httpx.ASGITransport(app=build_app(rt))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://iep.test", headers={"x-api-key": key}
        ) as client:
            yield Env(rt, client, sink, tenant.id)
    finally:
        await rt.stop()


def stored(tmp_path: Path) -> list[tuple[str, str, str, str | None]]:
    with closing(sqlite3.connect(tmp_path / "data" / "iep.db")) as conn:
        return conn.execute(
            "SELECT tenant_id, id, secret, old_secret FROM webhook_endpoints ORDER BY id"
        ).fetchall()


def master_key(tmp_path: Path) -> SecretBox:
    return SecretBox(bytes.fromhex((tmp_path / "data" / "secret.key").read_text().strip()))


async def test_the_database_holds_only_sealed_secrets_and_deliveries_verify(
    tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    async with appliance(tmp_path, webhook_sink) as env:
        hook = await env.register()
        rotated = await env.client.put(f"/v1/webhooks/{hook['id']}", json={"rotateSecret": True})
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        await env.send()
        [request] = await env.requests(1)
        for secret in (hook["secret"], new_secret):
            assert verify_standard(secret, request)
            assert verify_iep(secret, request)

    [(tenant_id, endpoint_id, secret, old)] = stored(tmp_path)
    db = (tmp_path / "data" / "iep.db").read_bytes()
    for plaintext in (hook["secret"], new_secret):
        assert plaintext.encode() not in db  # nor in a free page of the file
    assert secret.startswith("sealed:") and old is not None and old.startswith("sealed:")
    box, ctx = master_key(tmp_path), context(tenant_id, endpoint_id)
    assert open_text(box, ctx, secret) == new_secret
    assert open_text(box, ctx, old) == hook["secret"]


async def plaintext_endpoint(env: Env, secret: str) -> str:
    """An endpoint as an earlier version stored it: the secret in plaintext."""
    now = "2026-01-01T00:00:00.000Z"
    endpoint_id = env.rt.services.clock.new_id()
    await env.rt.services.store.create_webhook(
        endpoint_record(
            endpoint_id,
            env.tenant_id,
            url=env.sink.url("/hook"),
            events=("message.sent",),
            secret=secret,
            now=now,
        )
    )
    return endpoint_id


async def test_a_plaintext_secret_from_before_is_sealed_at_start_and_still_signs(
    tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    legacy = "whsec_" + "QUJD" * 8
    async with appliance(tmp_path, webhook_sink) as env:
        await plaintext_endpoint(env, legacy)
    assert [row[2] for row in stored(tmp_path)] == [legacy]

    async with restarted(tmp_path, webhook_sink) as env:  # the next start seals it
        [(tenant_id, endpoint_id, secret, _old)] = stored(tmp_path)
        assert secret.startswith("sealed:")
        assert open_text(master_key(tmp_path), context(tenant_id, endpoint_id), secret) == legacy
        await env.send()
        [request] = await env.requests(1)
        assert verify_standard(legacy, request)


async def test_a_secret_sealed_under_another_key_drops_the_delivery_unsent(
    tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    async with appliance(tmp_path, webhook_sink) as env:
        other = SecretBox(bytes(range(32)))
        endpoint_id = await plaintext_endpoint(env, "placeholder")
        foreign = seal_text(other, context(env.tenant_id, endpoint_id), "whsec_" + "QUJD" * 8)
        with closing(sqlite3.connect(tmp_path / "data" / "iep.db")) as conn, conn:
            conn.execute("UPDATE webhook_endpoints SET secret = ?", (foreign,))
        await env.send()

        def dropped() -> tuple[str, str] | None:
            with closing(sqlite3.connect(tmp_path / "data" / "iep.db")) as conn:
                row = conn.execute(
                    "SELECT state, last_error FROM jobs WHERE kind = 'webhook'"
                ).fetchone()
            return row if row is not None and row[0] == "dead" else None

        _state, error = await wait_until(dropped, timeout=15, message="the webhook job dead")
        assert "secret unreadable" in error
        assert env.sink.requests == []
