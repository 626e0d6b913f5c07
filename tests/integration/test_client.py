"""The Python client (DESIGN §4.2) against the appliance, and `verify_webhook` on signed bodies.

`AsyncClient` talks to the in-process app through `httpx.ASGITransport` over one Runtime per
module (FakeClock, delivery off, so accepted messages stay `queued`/`scheduled`). The blocking
`Client` talks to the real `iep serve` process (e2e), with its tenant and key made by the CLI.
A counting transport shows how many pages `list` fetched. Webhook checks use bodies signed by
`domain/signing.sign`, the function the dispatcher signs with.
"""

import base64
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from iep_appliance.app import build_app
from iep_appliance.client import (
    AsyncClient,
    Client,
    IEPError,
    RateLimitedError,
    WebhookVerificationError,
    verify_webhook,
)
from iep_appliance.clock import FakeClock
from iep_appliance.config import parse
from iep_appliance.domain.models import RateLimits, TenantSettings
from iep_appliance.domain.signing import make_secret, sign
from iep_appliance.runtime import Runtime
from tests.support.lossy_proxy import LossyProxy
from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.waiting import wait_until_sync
from tests.support.webhook_sink import WebhookSink

IN_PROCESS = pytest.mark.asyncio(loop_scope="module")
DOMAIN = "acme.example.com"


def message(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "to": ["ada@example.org"],
        "from": {"email": f"noreply@{DOMAIN}", "name": "Acme"},
        "subject": "Hi {{name}}",
        "htmlBody": "<p>Hi {{name}}</p>",
        "variables": {"name": "Ada"},
    }
    body.update(overrides)
    return body


def batch(n: int) -> dict[str, Any]:
    body = message()
    del body["to"]
    body["recipients"] = [{"to": [f"user{i}@example.org"]} for i in range(n)]
    return body


def tagged(tag: str) -> dict[str, Any]:
    return message(metadata={"category": "client-test", "tags": [tag]})


def skip_if_missing(exc: IEPError, what: str) -> None:
    if exc.status in (404, 405) and not exc.errors:
        pytest.skip(f"{what} is not served by this build (answered {exc.status})")


class CountingAsgi(httpx.ASGITransport):
    def __init__(self, app: Any) -> None:
        super().__init__(app=app)
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await super().handle_async_request(request)


class CountingHttp(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return super().handle_request(request)


# ---- AsyncClient over the in-process app ------------------------------------------------------


class InProcess:
    def __init__(self, rt: Runtime, clock: FakeClock) -> None:
        self.rt, self.clock, self.app = rt, clock, build_app(rt)
        self.keys: dict[str, str] = {}
        self.transport = CountingAsgi(self.app)

    def client(self, who: str = "acme") -> AsyncClient:
        return AsyncClient("http://iep.test", self.keys[who], transport=self.transport)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def appliance(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcess]:
    base = tmp_path_factory.mktemp("client")
    cfg = parse(
        {
            "storage": {"path": "data/iep.db", "attachments_dir": "data/attachments"},
            "logging": {"access_log": False},
        },
        base,
        environ={},
    )
    clock = FakeClock()
    rt = Runtime(cfg, clock=clock, deliver=False)
    await rt.start()
    try:
        env = InProcess(rt, clock)
        for slug, settings in [
            ("acme", TenantSettings()),
            ("throttled", TenantSettings(rate_limits=RateLimits(max_per_minute=1))),
        ]:
            tenant = await rt.services.store.create_tenant(slug, slug.title(), [DOMAIN], settings)
            env.keys[slug] = (
                await rt.services.keys.create(tenant.id, ["send", "read"], name=slug)
            ).key
        yield env
    finally:
        await rt.stop()


@IN_PROCESS
async def test_async_send_returns_the_202_body_and_get_reads_it(appliance: InProcess) -> None:
    async with appliance.client() as iep:
        accepted = await iep.send(message())
        detail = await iep.get(accepted["messageId"])

    assert accepted["status"] == "queued"
    assert accepted["suppressedRecipients"] == []
    assert detail["messageId"] == accepted["messageId"]
    assert detail["to"] == ["ada@example.org"]
    assert [e["type"] for e in detail["events"]] == ["queued"]


@IN_PROCESS
async def test_async_list_follows_next_cursor_over_three_pages(appliance: InProcess) -> None:
    tag = uuid.uuid4().hex
    async with appliance.client() as iep:
        sent = {(await iep.send(tagged(tag)))["messageId"] for _ in range(5)}
        before = len(appliance.transport.paths)
        listed = [m async for m in iep.list(tag=tag, limit=2)]

    assert {m["messageId"] for m in listed} == sent
    assert len(listed) == 5
    assert appliance.transport.paths[before:] == ["/v1/messages"] * 3


@IN_PROCESS
async def test_async_list_maps_from_and_dates_to_query_parameters(appliance: InProcess) -> None:
    tag = uuid.uuid4().hex
    day = appliance.clock.now().date()
    async with appliance.client() as iep:
        mid = (await iep.send(tagged(tag)))["messageId"]
        nxt = day + timedelta(days=1)
        inside = [m["messageId"] async for m in iep.list(tag=tag, from_=day, to=nxt)]
        later = day + timedelta(days=2)
        outside = [m async for m in iep.list(tag=tag, from_=later.isoformat())]

    assert inside == [mid]
    assert outside == []


@IN_PROCESS
async def test_async_retry_of_a_queued_message_raises_409_with_errors(
    appliance: InProcess,
) -> None:
    async with appliance.client() as iep:
        mid = (await iep.send(message()))["messageId"]
        with pytest.raises(IEPError) as caught:
            await iep.retry(mid)

    assert caught.value.status == 409
    assert caught.value.problem["status"] == 409
    assert caught.value.errors == caught.value.problem["errors"]
    assert "failed" in (caught.value.detail or "")


@IN_PROCESS
async def test_async_invalid_message_raises_422_naming_the_fields(appliance: InProcess) -> None:
    async with appliance.client() as iep:
        with pytest.raises(IEPError) as caught:
            await iep.send(message(to=["not-an-address"], subject="Hi\r\nBcc: x@evil.example"))

    assert caught.value.status == 422
    assert {"to[0]", "subject"} <= set(caught.value.fields)
    assert caught.value.detail
    assert "422" in str(caught.value)


@IN_PROCESS
async def test_async_unknown_message_raises_404(appliance: InProcess) -> None:
    async with appliance.client() as iep:
        with pytest.raises(IEPError) as caught:
            await iep.get(str(uuid.uuid4()))

    assert caught.value.status == 404


@IN_PROCESS
async def test_async_idempotency_key_replay_returns_the_same_message(
    appliance: InProcess,
) -> None:
    key = str(uuid.uuid4())
    async with appliance.client() as iep:
        first = await iep.send(message(), idempotency_key=key)
        again = await iep.send(message(), idempotency_key=key)
        with pytest.raises(IEPError) as caught:
            await iep.send(message(subject="Different"), idempotency_key=key)

    assert again["messageId"] == first["messageId"]
    assert caught.value.status == 409


@IN_PROCESS
async def test_async_cancel_of_a_scheduled_message(appliance: InProcess) -> None:
    when = (appliance.clock.now() + timedelta(days=1)).isoformat()
    async with appliance.client() as iep:
        accepted = await iep.send(message(scheduledAt=when))
        try:
            cancelled = await iep.cancel(accepted["messageId"])
        except IEPError as exc:
            skip_if_missing(exc, "POST /v1/messages/{id}/cancel")
            raise
        detail = await iep.get(accepted["messageId"])

    assert accepted["status"] == "scheduled"
    assert cancelled == {"messageId": accepted["messageId"], "status": "cancelled"}
    assert detail["status"] == "cancelled"


@IN_PROCESS
async def test_async_send_batch_returns_batch_id_and_count(appliance: InProcess) -> None:
    key = str(uuid.uuid4())
    async with appliance.client() as iep:
        try:
            accepted = await iep.send_batch(batch(3), idempotency_key=key)
        except IEPError as exc:
            skip_if_missing(exc, "POST /v1/messages/batch")
            raise
        replay = await iep.send_batch(batch(3), idempotency_key=key)

    assert accepted["count"] == 3 and accepted["batchId"]
    assert replay["batchId"] == accepted["batchId"]


@IN_PROCESS
async def test_async_over_the_rate_limit_raises_rate_limited_with_retry_after(
    appliance: InProcess,
) -> None:
    async with appliance.client("throttled") as iep:
        await iep.send(message())
        with pytest.raises(RateLimitedError) as caught:
            await iep.send(message())

    assert caught.value.status == 429
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 60


@IN_PROCESS
async def test_async_wrong_key_raises_401(appliance: InProcess) -> None:
    async with AsyncClient("http://iep.test", "iep_nope_nope", transport=appliance.transport) as c:
        with pytest.raises(IEPError) as caught:
            await c.get(str(uuid.uuid4()))

    assert caught.value.status == 401


def test_unknown_list_filter_is_a_type_error() -> None:
    with Client("http://127.0.0.1:9", "k") as iep, pytest.raises(TypeError, match="sender"):
        next(iep.list(sender="x"))


# ---- Client against the real `iep serve` process ----------------------------------------------


class Server:
    def __init__(self, process: ServerProcess, key: str) -> None:
        self.process, self.key = process, key
        self.transport = CountingHttp()

    def client(self) -> Client:
        return Client(self.process.base_url, self.key, timeout=30, transport=self.transport)


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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base: Path = tmp_path_factory.mktemp("client-e2e")
    port = free_port()
    config = str(
        write_config(
            base, port, logging={"access_log": False}, webhooks={"allow_private_networks": True}
        )
    )
    iep_json("tenant", "create", "--config", config, "--name", "Acme", "--slug", "acme",
             "--domain", DOMAIN)  # fmt: skip
    key = iep_json("key", "create", "--config", config, "--tenant", "acme")
    with ServerProcess(Path(config), port, base / "logs") as process:
        yield Server(process, key["key"])


@pytest.mark.e2e
def test_sync_send_get_and_list_over_three_pages(server: Server) -> None:
    tag = uuid.uuid4().hex
    with server.client() as iep:
        accepted = iep.send(tagged(tag))
        sent = {accepted["messageId"]} | {iep.send(tagged(tag))["messageId"] for _ in range(4)}
        detail = iep.get(accepted["messageId"])
        before = len(server.transport.paths)
        listed = list(iep.list(tag=tag, limit=2))

    assert accepted["status"] == "queued"
    assert detail["messageId"] == accepted["messageId"]
    assert detail["events"][0]["type"] == "queued"
    assert {m["messageId"] for m in listed} == sent and len(listed) == 5
    assert server.transport.paths[before:] == ["/v1/messages"] * 3


@pytest.mark.e2e
def test_sync_errors_carry_problem_details(server: Server) -> None:
    with server.client() as iep:
        mid = iep.send(message())["messageId"]
        with pytest.raises(IEPError) as conflict:
            iep.retry(mid)
        with pytest.raises(IEPError) as invalid:
            iep.send(message(**{"from": {"email": "nope"}}))

    assert conflict.value.status == 409
    assert isinstance(conflict.value.errors, list) and conflict.value.title
    assert invalid.value.status == 422
    assert "from.email" in invalid.value.fields
    assert invalid.value.problem["errors"] == invalid.value.errors


@pytest.mark.e2e
def test_sync_idempotent_replay_returns_the_same_message_id(server: Server) -> None:
    key = str(uuid.uuid4())
    with server.client() as iep:
        first = iep.send(message(), idempotency_key=key)
        again = iep.send(message(), idempotency_key=key)

    assert again["messageId"] == first["messageId"]


@pytest.mark.e2e
def test_sync_cancel_of_a_scheduled_message(server: Server) -> None:
    when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    with server.client() as iep:
        accepted = iep.send(message(scheduledAt=when))
        try:
            cancelled = iep.cancel(accepted["messageId"])
        except IEPError as exc:
            skip_if_missing(exc, "POST /v1/messages/{id}/cancel")
            raise

        assert iep.get(accepted["messageId"])["status"] == "cancelled"
    assert accepted["status"] == "scheduled"
    assert cancelled["status"] == "cancelled"


@pytest.mark.e2e
def test_sync_send_batch(server: Server) -> None:
    with server.client() as iep:
        try:
            accepted = iep.send_batch(batch(2))
        except IEPError as exc:
            skip_if_missing(exc, "POST /v1/messages/batch")
            raise

    assert accepted["count"] == 2 and accepted["batchId"]


@pytest.mark.e2e
def test_sync_client_closes_its_connections_on_exit(server: Server) -> None:
    with server.client() as iep:
        iep.send(message())

    with pytest.raises(RuntimeError):
        iep.send(message())


@pytest.mark.e2e
def test_sync_webhook_from_the_server_passes_verify_webhook(
    server: Server, webhook_sink: WebhookSink
) -> None:
    admin = {"x-api-key": server.key}
    with httpx.Client(base_url=server.process.base_url, trust_env=False, timeout=30) as http:
        created = http.post(
            "/v1/webhooks", json={"url": webhook_sink.url(), "events": ["message.sent"]},
            headers=admin,
        )  # fmt: skip
        assert created.status_code == 201, created.text
        try:
            with server.client() as iep:
                mid = iep.send(message())["messageId"]
            delivered = wait_until_sync(
                lambda: [r for r in webhook_sink.requests if r.json().get("messageId") == mid],
                timeout=30,
                message="no webhook for the message",
            )
        finally:
            http.delete(f"/v1/webhooks/{created.json()['id']}", headers=admin)
    request = delivered[0]

    payload = verify_webhook(created.json()["secret"], request.headers, request.body)

    assert payload["event"] == "message.sent" and payload["messageId"] == mid
    with pytest.raises(WebhookVerificationError):
        verify_webhook(created.json()["secret"], request.headers, request.body + b" ")


# ---- verify_webhook ---------------------------------------------------------------------------

SECRET = make_secret(bytes(range(32)))
OTHER = make_secret(bytes(range(1, 33)))
NOW = 1_767_225_600
PAYLOAD = {"event": "message.sent", "messageId": "m1", "tenantId": "t1", "data": {"attempts": 1}}
BODY = json.dumps(PAYLOAD).encode()


def signed(secrets: list[str], body: bytes = BODY, timestamp: int = NOW) -> dict[str, str]:
    return sign(secrets, "evt_1", timestamp, body)


def test_verify_webhook_accepts_a_signed_body_and_returns_the_payload() -> None:
    assert verify_webhook(SECRET, signed([SECRET]), BODY, now=NOW + 10) == PAYLOAD


def test_verify_webhook_reads_headers_case_insensitively_and_str_bodies() -> None:
    headers = httpx.Headers({k.title(): v for k, v in signed([SECRET]).items()})

    assert verify_webhook(SECRET, headers, BODY.decode(), now=NOW) == PAYLOAD


def test_verify_webhook_accepts_either_secret_during_rotation() -> None:
    headers = signed([OTHER, SECRET])

    assert verify_webhook(SECRET, headers, BODY, now=NOW) == PAYLOAD
    assert verify_webhook(OTHER, headers, BODY, now=NOW) == PAYLOAD


def test_verify_webhook_uses_the_current_time_by_default() -> None:
    now = int(datetime.now(UTC).timestamp())

    assert verify_webhook(SECRET, signed([SECRET], timestamp=now), BODY) == PAYLOAD
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_webhook(SECRET, signed([SECRET], timestamp=now - 301), BODY)


@pytest.mark.parametrize(
    ("secret", "headers", "body", "now", "why"),
    [
        pytest.param(SECRET, signed([SECRET]), BODY + b" ", NOW, "x-iep-signature", id="tampered"),
        pytest.param(OTHER, signed([SECRET]), BODY, NOW, "x-iep-signature", id="wrong-secret"),
        pytest.param(SECRET, signed([SECRET]), BODY, NOW + 301, "tolerance", id="stale"),
        pytest.param(SECRET, signed([SECRET]), BODY, NOW - 301, "tolerance", id="future"),
        pytest.param(
            SECRET,
            {**signed([SECRET]), "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()},
            BODY,
            NOW,
            "webhook-signature",
            id="standard-signature-forged",
        ),
        pytest.param(
            SECRET,
            {**signed([SECRET]), "webhook-id": "evt_2"},
            BODY,
            NOW,
            "webhook-signature",
            id="other-webhook-id",
        ),
        pytest.param(
            SECRET,
            {k: v for k, v in signed([SECRET]).items() if k != "webhook-timestamp"},
            BODY,
            NOW,
            "missing header",
            id="no-timestamp",
        ),
        pytest.param(
            SECRET,
            {**signed([SECRET]), "webhook-timestamp": "soon"},
            BODY,
            NOW,
            "Unix",
            id="bad-timestamp",
        ),
        pytest.param(
            SECRET, signed([SECRET], body=b"[1]"), b"[1]", NOW, "JSON object", id="not-object"
        ),
        pytest.param("not base64!", signed([SECRET]), BODY, NOW, "x-iep-sig", id="bad-secret"),
    ],
)
def test_verify_webhook_rejects(
    secret: str, headers: dict[str, str], body: bytes, now: int, why: str
) -> None:
    with pytest.raises(WebhookVerificationError, match=why):
        verify_webhook(secret, headers, body, now=now)


# ---- a lost answer: the send is retried with its idempotency key --------------------------


@pytest.mark.e2e
def test_a_send_whose_answer_was_lost_is_retried_and_stored_once(server: Server) -> None:
    tag = uuid.uuid4().hex
    with (
        LossyProxy(server.process.port) as proxy,
        Client(f"http://127.0.0.1:{proxy.port}", server.key, backoff=0.01, trust_env=False) as iep,
    ):
        proxy.lose_answers(1)
        accepted = iep.send(tagged(tag))
        assert proxy.lost == 1  # the first try reached the server; its answer did not come back
        stored = [m["messageId"] for m in iep.list(tag=tag)]
    assert stored == [accepted["messageId"]]


@pytest.mark.e2e
async def test_async_send_batch_whose_answer_was_lost_is_stored_once(server: Server) -> None:
    tag = uuid.uuid4().hex
    body = batch(3) | {"metadata": {"category": "client-test", "tags": [tag]}}
    with LossyProxy(server.process.port) as proxy:
        async with AsyncClient(
            f"http://127.0.0.1:{proxy.port}", server.key, backoff=0.01, trust_env=False
        ) as iep:
            proxy.lose_answers(1)
            accepted = await iep.send_batch(body)
            assert proxy.lost == 1
            stored = [m async for m in iep.list(tag=tag)]
    assert accepted["count"] == 3
    assert len(stored) == 3


@pytest.mark.e2e
def test_without_retries_the_network_error_is_raised(server: Server) -> None:
    tag = uuid.uuid4().hex
    with (
        LossyProxy(server.process.port) as proxy,
        Client(f"http://127.0.0.1:{proxy.port}", server.key, retries=0, trust_env=False) as iep,
    ):
        proxy.lose_answers(1)
        with pytest.raises(httpx.TransportError):
            iep.send(tagged(tag))
        assert len(list(iep.list(tag=tag))) == 1  # applied all the same: hence the retries
