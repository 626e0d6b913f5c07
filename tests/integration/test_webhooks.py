"""Signed webhooks end to end inside one process: API → store → scheduler → dispatcher → a real
HTTP receiver on 127.0.0.1 (`tests/support/webhook_sink.py`).

Receivers on 127.0.0.1 need `webhooks.allow_private_networks = true`; the SSRF tests run a
second appliance with the guard on. `webhooks.retry_schedule` is [1, 1] so retries run on the
real clock within seconds. Signatures are checked as a receiver would: `x-iep-signature` with
hmac, the Standard Webhooks headers with the `standardwebhooks` library.
"""

import hashlib
import hmac
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from iep_appliance.app import build_app
from iep_appliance.config import parse
from iep_appliance.domain.netaddr import parse_webhook_url
from iep_appliance.runtime import Runtime
from iep_appliance.services.tenants import create_tenant
from iep_appliance.webhooks.guard import Guard, Target, pinned, pinned_client
from tests.support.endpoints import endpoint_record
from tests.support.problems import assert_problem
from tests.support.waiting import wait_until
from tests.support.webhook_sink import Request, WebhookSink

ALL_EVENTS = ["message.sent", "message.failed", "message.bounced", "message.retrying"]


@dataclass
class Env:
    rt: Runtime
    client: httpx.AsyncClient
    sink: WebhookSink
    tenant_id: str

    async def register(self, **body: Any) -> dict[str, Any]:
        resp = await self.client.post(
            "/v1/webhooks", json={"url": self.sink.url("/hook"), "events": ALL_EVENTS, **body}
        )
        assert resp.status_code == 201, resp.text
        return resp.json()

    async def send(self, headers: dict[str, str] | None = None, **overrides: Any) -> str:
        body = {
            "to": ["ada@example.org"],
            "from": {"email": "noreply@example.com", "name": "Product"},
            "subject": "Hello {{name}}",
            "htmlBody": "<p>Hello {{name}}</p>",
            "variables": {"name": "Ada"},
            **overrides,
        }
        resp = await self.client.post("/v1/messages", json=body, headers=headers or {})
        assert resp.status_code == 202, resp.text
        return resp.json()["messageId"]

    async def requests(self, n: int, wait: float = 15.0) -> list[Request]:
        return await wait_until(
            lambda: self.sink.requests if len(self.sink.requests) >= n else None,
            timeout=wait,
            message=f"{n} webhook requests",
        )

    async def deliveries(self, webhook_id: str, n: int, wait: float = 15.0) -> list[Any]:
        async def enough() -> list[Any] | None:
            resp = await self.client.get(f"/v1/webhooks/{webhook_id}/deliveries")
            assert resp.status_code == 200, resp.text
            data = resp.json()["data"]
            return data if len(data) >= n else None

        return await wait_until(enough, timeout=wait, message=f"{n} deliveries")

    async def key(self, scopes: list[str], tenant_id: str | None = None, **kw: Any) -> str:
        created = await self.rt.services.keys.create(tenant_id or self.tenant_id, scopes, **kw)
        return created.key


def config(tmp_path: Path, grace: float = 5, **webhooks: Any) -> Any:
    return parse(
        {
            "server": {"port": 0},
            "storage": {"path": "data/iep.db", "attachments_dir": "data/attachments"},
            "delivery": {
                "concurrency": 4,
                "retry_schedule": [1, 1],
                "shutdown_grace_seconds": grace,
            },
            "webhooks": {
                "allow_private_networks": True,
                "retry_schedule": [1, 1],
                "timeout_seconds": 5,
                **webhooks,
            },
            "logging": {"access_log": False},
        },
        tmp_path,
    )


@asynccontextmanager
async def appliance(
    tmp_path: Path, sink: WebhookSink, grace: float = 5, **webhooks: Any
) -> AsyncIterator[Env]:
    rt = Runtime(config(tmp_path, grace, **webhooks))
    await rt.start()
    try:
        assert rt.first_start is not None
        tenant = await rt.services.store.get_tenant_by_slug("default")
        assert tenant is not None
        # In-process on the test's own loop (AsyncTestClient would serve from a second loop in
        # another thread and block this one, freezing the scheduler during each request).
        transport = httpx.ASGITransport(app=build_app(rt))
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://iep.test",
            headers={"x-api-key": rt.first_start.key},
        ) as client:
            yield Env(rt, client, sink, tenant.id)
    finally:
        await rt.stop()


@pytest.fixture
async def env(tmp_path: Path, webhook_sink: WebhookSink) -> AsyncIterator[Env]:
    async with appliance(tmp_path, webhook_sink) as e:
        yield e


@pytest.fixture
async def guarded(tmp_path: Path, webhook_sink: WebhookSink) -> AsyncIterator[Env]:
    """The SSRF guard on, as in production."""
    async with appliance(tmp_path, webhook_sink, allow_private_networks=False) as e:
        yield e


def verify_iep(secret: str, request: Request) -> bool:
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    entries = [e.strip() for e in request.headers["x-iep-signature"].split(",")]
    return f"sha256={expected}" in entries


def verify_standard(secret: str, request: Request) -> Any:
    """What a receiver does: raises WebhookVerificationError unless a signature matches."""
    return Webhook(secret).verify(request.body, request.headers)


# ---- events arrive, signed both ways ---------------------------------------------------------


async def test_sent_message_posts_message_sent_signed_both_ways(env: Env) -> None:
    hook = await env.register()
    assert hook["secret"].startswith("whsec_")

    message_id = await env.send()

    [request] = await env.requests(1)
    body = request.json()
    assert body["event"] == "message.sent"
    assert body["messageId"] == message_id
    assert body["tenantId"] == env.tenant_id
    assert body["timestamp"].endswith("Z")
    assert body["data"] == {
        "to": ["ada@example.org"],
        "subject": "Hello Ada",
        "provider": "outbox",
        "attempts": 1,
    }
    assert request.headers["content-type"] == "application/json"
    assert verify_iep(hook["secret"], request)
    assert verify_standard(hook["secret"], request) == body
    assert request.headers["webhook-id"].startswith("evt_")


async def test_render_failure_posts_message_failed_with_the_error(env: Env) -> None:
    hook = await env.register()

    message_id = await env.send(htmlBody="<p>{{> missingPartial}}</p>")

    [request] = await env.requests(1)
    body = request.json()
    assert (body["event"], body["messageId"]) == ("message.failed", message_id)
    assert "missingPartial" in body["data"]["error"]
    assert body["data"]["attempts"] == 1
    assert verify_iep(hook["secret"], request)
    assert verify_standard(hook["secret"], request) == body


async def test_endpoint_gets_only_the_events_it_subscribed_to(env: Env) -> None:
    hook = await env.register(events=["failed"])
    assert hook["events"] == ["message.failed"]

    await env.send()
    failed_id = await env.send(htmlBody="{{> missingPartial}}")

    [request] = await env.requests(1)
    assert request.json()["messageId"] == failed_id
    deliveries = await env.deliveries(hook["id"], 1)
    assert [d["messageId"] for d in deliveries] == [failed_id]


async def test_sandbox_message_webhook_carries_sandbox_true(env: Env) -> None:
    await env.register()
    sandbox_key = await env.key(["send"], sandbox=True)

    await env.send(headers={"x-api-key": sandbox_key})

    [request] = await env.requests(1)
    body = request.json()
    assert body["sandbox"] is True
    assert body["data"]["sandbox"] is True


# ---- retries, attempts, re-send --------------------------------------------------------------


async def test_500_500_200_gives_three_attempts_with_one_webhook_id_then_delivered(
    env: Env,
) -> None:
    hook = await env.register()
    env.sink.script(500, 500)

    await env.send()

    requests = await env.requests(3)
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert len({r.body for r in requests}) == 1
    for r in requests:
        assert verify_standard(hook["secret"], r)
    deliveries = await env.deliveries(hook["id"], 3)
    assert [d["attempt"] for d in deliveries] == [3, 2, 1]  # newest first
    assert [d["statusCode"] for d in deliveries] == [200, 500, 500]
    assert [d["status"] for d in deliveries] == ["delivered", "retrying", "retrying"]
    assert {d["eventId"] for d in deliveries} == {requests[0].headers["webhook-id"]}
    assert {d["webhookId"] for d in deliveries} == {hook["id"]}  # the endpoint
    assert deliveries[0]["nextRetryAt"] is None and deliveries[1]["nextRetryAt"] is not None
    assert deliveries[1]["error"].startswith("HTTP 500")
    assert all(isinstance(d["latencyMs"], int) for d in deliveries)
    metrics = (await env.client.get("/metrics")).text
    assert 'iep_webhook_deliveries_total{outcome="delivered"} 1.0' in metrics
    assert 'iep_webhook_deliveries_total{outcome="retrying"} 2.0' in metrics


async def test_endpoint_failing_every_attempt_ends_failed_after_the_schedule(env: Env) -> None:
    hook = await env.register()
    env.sink.script(503, 503, 503)

    await env.send()

    deliveries = await env.deliveries(hook["id"], 3)
    assert [d["status"] for d in deliveries] == ["failed", "retrying", "retrying"]
    assert deliveries[0]["nextRetryAt"] is None
    depth = await env.rt.services.store.db.read(
        lambda c: c.execute("SELECT state, last_error FROM jobs WHERE kind = 'webhook'").fetchall()
    )
    assert depth == [("dead", deliveries[0]["error"])]


async def test_resend_of_a_delivery_posts_the_same_event_with_the_same_webhook_id(
    env: Env,
) -> None:
    hook = await env.register()
    await env.send()
    [first] = await env.requests(1)
    [delivery] = await env.deliveries(hook["id"], 1)

    resp = await env.client.post(f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/retry")

    assert resp.status_code == 202, resp.text
    assert resp.json()["eventId"] == first.headers["webhook-id"]
    assert resp.json()["webhookId"] == hook["id"]
    assert resp.json()["status"] == "queued"
    _, again = await env.requests(2)
    assert again.headers["webhook-id"] == first.headers["webhook-id"]
    assert again.body == first.body
    assert verify_standard(hook["secret"], again)


async def test_endpoint_failing_past_disable_after_hours_is_disabled_with_a_reason(
    tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    # 0.0001 h = 0.36 s: the second attempt, 1 s after the first failure, disables it.
    async with appliance(tmp_path, webhook_sink, disable_after_hours=0.0001) as env:
        hook = await env.register()
        webhook_sink.script(500, 500, 500)

        await env.send()

        async def disabled() -> dict[str, Any] | None:
            found = (await env.client.get(f"/v1/webhooks/{hook['id']}")).json()
            return found if not found["active"] else None

        found = await wait_until(disabled, timeout=15, message="endpoint disabled")
        assert "without a successful delivery" in found["disabledReason"]
        assert "HTTP 500" in found["disabledReason"]
        assert found["failingSince"] is not None

        resp = await env.client.put(f"/v1/webhooks/{hook['id']}", json={"active": True})
        assert resp.status_code == 200, resp.text
        assert resp.json()["active"] is True
        assert resp.json()["disabledReason"] is None


async def test_stop_releases_a_post_still_in_flight_after_the_grace(
    tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    webhook_sink.set_delay(3)
    async with appliance(tmp_path, webhook_sink, grace=0.3) as env:
        await env.register()
        await env.send()
        await env.requests(1)  # the receiver holds the POST past the grace
        db_path = env.rt.config.storage.path

    with closing(sqlite3.connect(db_path)) as conn:
        jobs = conn.execute("SELECT state, attempts FROM jobs WHERE kind = 'webhook'").fetchall()
        attempts = conn.execute("SELECT count(*) FROM webhook_deliveries").fetchone()[0]
    assert jobs == [("ready", 0)]  # released, not counted: the next start sends it again
    assert attempts == 0


# ---- secrets and rotation -------------------------------------------------------------------


async def test_secret_is_shown_at_creation_only(env: Env) -> None:
    hook = await env.register()

    listed = (await env.client.get("/v1/webhooks")).json()
    one = (await env.client.get(f"/v1/webhooks/{hook['id']}")).json()
    updated = (await env.client.put(f"/v1/webhooks/{hook['id']}", json={"active": False})).json()

    assert listed["nextCursor"] is None
    assert [h["id"] for h in listed["data"]] == [hook["id"]]
    for shown in (listed["data"][0], one, updated):
        assert "secret" not in shown
        assert hook["secret"] not in json.dumps(shown)


async def test_rotation_signs_with_old_and_new_secret_during_grace(env: Env) -> None:
    hook = await env.register()

    resp = await env.client.put(f"/v1/webhooks/{hook['id']}", json={"rotateSecret": True})

    assert resp.status_code == 200, resp.text
    rotated = resp.json()
    new_secret = rotated["secret"]
    assert new_secret.startswith("whsec_") and new_secret != hook["secret"]
    assert rotated["previousSecretExpiresAt"] is not None
    await env.send()
    [request] = await env.requests(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert len(request.headers["x-iep-signature"].split(",")) == 2
    for secret in (hook["secret"], new_secret):
        assert verify_iep(secret, request)
        assert verify_standard(secret, request)


async def test_rotation_without_grace_signs_with_the_new_secret_only(
    tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    async with appliance(tmp_path, webhook_sink, rotation_grace_seconds=0) as env:
        hook = await env.register()
        resp = await env.client.put(f"/v1/webhooks/{hook['id']}", json={"rotateSecret": True})
        new_secret = resp.json()["secret"]

        await env.send()

        [request] = await env.requests(1)
        assert verify_standard(new_secret, request)
        assert not verify_iep(hook["secret"], request)
        assert " " not in request.headers["webhook-signature"]


# ---- API shapes, validation, scoping --------------------------------------------------------


async def test_update_changes_url_and_events_and_delete_answers_204(env: Env) -> None:
    hook = await env.register()

    resp = await env.client.put(
        f"/v1/webhooks/{hook['id']}",
        json={"url": env.sink.url("/other"), "events": ["message.bounced"]},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["url"] == env.sink.url("/other")
    assert resp.json()["events"] == ["message.bounced"]

    assert (await env.client.delete(f"/v1/webhooks/{hook['id']}")).status_code == 204
    assert_problem(await env.client.get(f"/v1/webhooks/{hook['id']}"), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": ["message.sent", "message.teleported"]}, "events[1]"),
        ({"events": []}, "events"),
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "http://user:pw@example.com/hook"}, "url"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_bad_webhook_body_is_422_naming_the_field(
    env: Env, body: dict[str, Any], field: str
) -> None:
    resp = await env.client.post("/v1/webhooks", json={"url": env.sink.url(), **body})

    assert_problem(resp, 422, field)


async def test_other_tenants_webhook_is_404_everywhere(env: Env) -> None:
    hook = await env.register()
    await env.send()
    [delivery] = await env.deliveries(hook["id"], 1)
    other = await create_tenant(env.rt.services.store, "other", "Other", ["other.example"])
    headers = {"x-api-key": await env.key(["admin"], tenant_id=other.id)}
    base = f"/v1/webhooks/{hook['id']}"

    calls: list[Callable[[], Any]] = [
        lambda: env.client.get(base, headers=headers),
        lambda: env.client.put(base, json={"active": False}, headers=headers),
        lambda: env.client.delete(base, headers=headers),
        lambda: env.client.get(f"{base}/deliveries", headers=headers),
        lambda: env.client.get(f"{base}/deliveries/{delivery['id']}", headers=headers),
        lambda: env.client.post(f"{base}/deliveries/{delivery['id']}/retry", headers=headers),
    ]
    for call in calls:
        assert_problem(await call(), 404)
    listed = (await env.client.get("/v1/webhooks", headers=headers)).json()
    assert listed == {"data": [], "nextCursor": None}
    assert (await env.client.get(base)).json()["active"] is True


async def test_send_key_cannot_manage_webhooks(env: Env) -> None:
    headers = {"x-api-key": await env.key(["send", "read"])}

    assert_problem(await env.client.get("/v1/webhooks", headers=headers), 403)
    resp = await env.client.post("/v1/webhooks", json={"url": env.sink.url()}, headers=headers)
    assert_problem(resp, 403)
    assert (await env.client.get("/v1/webhooks")).json()["data"] == []


async def test_webhook_list_pages_with_a_cursor(env: Env) -> None:
    ids = [(await env.register())["id"] for _ in range(3)]

    first = (await env.client.get("/v1/webhooks", params={"limit": 2})).json()
    rest = (
        await env.client.get("/v1/webhooks", params={"limit": 2, "cursor": first["nextCursor"]})
    ).json()

    assert [h["id"] for h in first["data"] + rest["data"]] == ids
    assert rest["nextCursor"] is None


# ---- the SSRF guard -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",  # a name that resolves to 127.0.0.1
        "http://2130706433/hook",  # decimal
        "http://0x7f.1/hook",  # hex
        "http://0177.0.0.1/hook",  # octal
        "http://127.1/hook",
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
        "http://[::]/hook",
        "http://10.1.2.3/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://[fe80::1]/hook",
        "http://224.0.0.1/hook",
        "http://no-such-host.invalid/hook",  # does not resolve
        "gopher://example.com/hook",
    ],
)
async def test_private_or_unresolvable_url_is_refused_at_registration(
    guarded: Env, url: str
) -> None:
    resp = await guarded.client.post("/v1/webhooks", json={"url": url, "events": ALL_EVENTS})

    assert_problem(resp, 422, "url")
    assert (await guarded.client.get("/v1/webhooks")).json()["data"] == []


async def test_private_url_is_refused_on_update_too(guarded: Env) -> None:
    hook = (
        await guarded.client.post("/v1/webhooks", json={"url": "http://93.184.215.14/hook"})
    ).json()

    resp = await guarded.client.put(
        f"/v1/webhooks/{hook['id']}", json={"url": "http://localhost/hook"}
    )

    assert_problem(resp, 422, "url")


async def test_public_address_is_accepted_with_the_guard_on(guarded: Env) -> None:
    resp = await guarded.client.post("/v1/webhooks", json={"url": "https://93.184.215.14/hook"})

    assert resp.status_code == 201, resp.text


async def test_stored_loopback_url_is_refused_again_at_send_time(guarded: Env) -> None:
    # As if the name had resolved to a public address at registration and rebinds now.
    now = "2026-01-01T00:00:00.000Z"
    await guarded.rt.services.store.create_webhook(
        endpoint_record(
            guarded.rt.services.clock.new_id(),
            guarded.tenant_id,
            url=guarded.sink.url("/hook"),
            events=tuple(ALL_EVENTS),
            now=now,
        )
    )
    [hook] = (await guarded.client.get("/v1/webhooks")).json()["data"]

    await guarded.send()

    [attempt, *_] = await guarded.deliveries(hook["id"], 1)
    assert attempt["statusCode"] is None
    assert "loopback" in attempt["error"] and attempt["error"].startswith("refused")
    assert guarded.sink.requests == []


async def test_post_connects_to_the_checked_address_not_to_a_fresh_lookup(
    webhook_sink: WebhookSink,
) -> None:
    url = f"http://rebinding.invalid:{webhook_sink.port}/hook"
    target = Target(url=parse_webhook_url(url), addresses=("127.0.0.1",))
    async with pinned_client(timeout=5, max_connections=2) as client:
        with pinned(target):
            resp = await client.post(url, content=b"{}")
        with pytest.raises(httpx.ConnectError):
            await client.post(f"http://other.invalid:{webhook_sink.port}/", content=b"{}")

    assert resp.status_code == 200
    [request] = webhook_sink.requests
    assert request.headers["host"] == f"rebinding.invalid:{webhook_sink.port}"


async def test_pin_for_one_host_does_not_open_another(webhook_sink: WebhookSink) -> None:
    target = Target(url=parse_webhook_url("http://a.invalid/"), addresses=("127.0.0.1",))
    async with pinned_client(timeout=5, max_connections=2) as client:
        with pinned(target), pytest.raises(httpx.ConnectError):
            await client.post(f"http://b.invalid:{webhook_sink.port}/", content=b"{}")
    assert webhook_sink.requests == []


async def test_guard_resolves_names_and_refuses_loopback_results() -> None:
    guard = Guard(allow_private_networks=False)
    with pytest.raises(ValueError, match=r"resolves to 127\.0\.0\.1, a loopback address"):
        await guard.check_url("http://localhost/hook")
    target = await Guard(allow_private_networks=True).target("http://localhost:9/x")
    assert "127.0.0.1" in target.addresses
    assert target.url.port == 9


async def test_post_tries_the_next_checked_address_when_one_refuses(
    webhook_sink: WebhookSink,
) -> None:
    url = f"http://multi.invalid:{webhook_sink.port}/hook"
    target = Target(url=parse_webhook_url(url), addresses=("127.0.0.2", "127.0.0.1"))
    async with pinned_client(timeout=5, max_connections=2) as client:
        with pinned(target):
            resp = await client.post(url, content=b"{}")

    assert resp.status_code == 200
    assert len(webhook_sink.requests) == 1


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


async def test_deleting_an_endpoint_cancels_its_pending_events_not_dead_letters_them(
    env: Env,
) -> None:
    env.sink.default_status = 500  # every attempt fails: the events wait for their retries
    hook = await env.register()
    await env.send()
    await env.requests(1)

    resp = await env.client.delete(f"/v1/webhooks/{hook['id']}")
    assert resp.status_code == 204

    async def settled() -> dict[str, int] | None:
        depth = await env.rt.services.store.dashboard_job_depth()  # the dashboard's overview counts
        return depth if depth["ready"] == depth["leased"] == 0 else None

    depth = await wait_until(settled, timeout=15, message="no webhook job left to run")
    metrics = (await env.client.get("/metrics")).text
    assert depth["dead"] == 0
    assert metric(metrics, 'iep_queue_depth{state="dead"}') == depth["dead"]
    assert await env.rt.services.store.dashboard_dead_jobs(10) == []
