"""POST/GET /v1/messages, auth and the system endpoints, in-process (DESIGN §4).

One Runtime per module (argon2 makes keys slow to mint) on a real SQLite file, with delivery
off so every accepted message stays `queued`; a FakeClock makes dates controllable. Every bad
input gets a problem+json naming the field (`assert_problem`) and writes nothing: the rows of
messages, jobs, events and attachments and the files under the attachment directory are the
same before and after.
"""

import asyncio
import base64
import contextlib
import json
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from iep_appliance.app import build_app
from iep_appliance.clock import FakeClock
from iep_appliance.config import parse
from iep_appliance.domain import ids
from iep_appliance.domain.models import AttachmentLimits, TenantSettings
from iep_appliance.runtime import Runtime
from tests.support.problems import assert_problem

pytestmark = pytest.mark.asyncio(loop_scope="module")

MB = 1024 * 1024
PDF = base64.b64encode(b"%PDF-1.4 tiny").decode()


@dataclass
class Api:
    rt: Runtime
    client: httpx.AsyncClient
    clock: FakeClock
    keys: dict[str, str] = field(default_factory=dict)
    tenants: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str = "acme") -> dict[str, str]:
        return {"x-api-key": self.keys[who]}

    async def send(self, who: str = "acme", **overrides: Any) -> Any:
        return await self.client.post(
            "/v1/messages", json=body(**overrides), headers=self.auth(who)
        )

    async def accepted(self, who: str = "acme", **overrides: Any) -> str:
        resp = await self.send(who, **overrides)
        assert resp.status_code == 202, resp.text
        return resp.json()["messageId"]

    def counts(self) -> tuple[int, ...]:
        conn = sqlite3.connect(f"file:{self.rt.config.storage.path}?mode=ro", uri=True)
        try:
            return tuple(
                conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("messages", "jobs", "events", "attachments")
            )
        finally:
            conn.close()

    def files(self) -> set[Path]:
        root = Path(self.rt.config.storage.attachments_dir)
        return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()

    @contextlib.contextmanager
    def writes_nothing(self) -> Iterator[None]:
        before = (self.counts(), self.files())
        yield
        assert (self.counts(), self.files()) == before, "a rejected request wrote something"

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{self.rt.config.storage.path}?mode=ro", uri=True)
        try:
            return conn.execute(query, args).fetchall()
        finally:
            conn.close()

    async def new_tenant(self, slug: str, scopes: str = "send,read,admin", **settings: Any) -> str:
        tenant = await self.rt.services.store.create_tenant(
            slug, slug.title(), ["acme.example.com"], TenantSettings(**settings)
        )
        self.tenants[slug] = tenant.id
        created = await self.rt.services.keys.create(tenant.id, scopes.split(","), name=slug)
        self.keys[slug] = created.key
        return tenant.id


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "to": ["ada@example.org"],
        "from": {"email": "noreply@acme.example.com", "name": "Acme"},
        "subject": "Hi {{name}}",
        "htmlBody": "<p>Hi {{name}}</p>",
        "variables": {"name": "Ada"},
    }
    for key, value in overrides.items():
        if value is DROP:
            data.pop(key, None)
        else:
            data[key] = value
    return data


DROP = object()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    base = tmp_path_factory.mktemp("api")
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
        # ASGITransport serves on this loop, where the Runtime lives (Litestar's AsyncTestClient
        # blocks this loop while a portal thread serves, so a group commit could never run).
        app = build_app(rt)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            client.app = app  # type: ignore[attr-defined]  # the OpenAPI test walks its routes
            a = Api(rt, client, clock)
            acme = await a.new_tenant("acme")
            await a.new_tenant("other")
            await a.new_tenant(
                "small",
                attachments=AttachmentLimits(
                    max_file_bytes=1000, max_total_bytes=1500, max_count=2
                ),
            )
            for name, scopes in [("send-only", ["send"]), ("read-only", ["read"])]:
                a.keys[name] = (await rt.services.keys.create(acme, scopes, name=name)).key
            revoked = await rt.services.keys.create(acme, ["send", "read"], name="revoked")
            await rt.services.keys.revoke(acme, revoked.record.id)
            a.keys["revoked"] = revoked.key
            expired = await rt.services.keys.create(
                acme, ["send", "read"], expires_at=clock.now() - timedelta(seconds=1)
            )
            a.keys["expired"] = expired.key
            yield a
    finally:
        await rt.stop()


# ---- every bad input: a 4xx naming the field, and nothing written ---------------------------


def _nested(depth: int) -> dict[str, Any]:
    """An object `depth` levels deep: {"a": {"a": … {} …}}."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


BAD_INPUTS = [
    # required fields
    pytest.param({"to": DROP}, 422, ["to"], id="missing-to"),
    pytest.param({"to": []}, 422, ["to"], id="empty-to"),
    pytest.param({"from": DROP}, 422, ["from"], id="missing-from"),
    pytest.param({"from": {"name": "Acme"}}, 422, ["from.email"], id="missing-from-email"),
    pytest.param({"subject": DROP}, 422, ["subject"], id="missing-subject"),
    pytest.param({"subject": "   "}, 422, ["subject"], id="blank-subject"),
    pytest.param({"htmlBody": DROP}, 422, ["htmlBody"], id="missing-htmlBody"),
    pytest.param({"htmlBody": ""}, 422, ["htmlBody"], id="empty-htmlBody"),
    # addresses
    pytest.param({"to": ["not-an-address"]}, 422, ["to[0]"], id="bad-to"),
    pytest.param({"to": ["ok@example.org", "a@@b.org"]}, 422, ["to[1]"], id="bad-second-to"),
    pytest.param({"to": [f"u{i}@example.org" for i in range(51)]}, 422, ["to"], id="too-many-to"),
    pytest.param({"cc": ["nobody"]}, 422, ["cc[0]"], id="bad-cc"),
    pytest.param({"bcc": ["ok@example.org", "x@"]}, 422, ["bcc[1]"], id="bad-bcc"),
    pytest.param({"from": {"email": "nope"}}, 422, ["from.email"], id="bad-from"),
    pytest.param({"from": "nope"}, 422, ["from.email"], id="bad-from-string"),
    pytest.param({"replyTo": "support@"}, 422, ["replyTo"], id="bad-replyTo"),
    pytest.param({"to": ["a@exa mple.org"]}, 422, ["to[0]"], id="space-in-domain"),
    # sender domain allow-list
    pytest.param(
        {"from": {"email": "ceo@evil.example.net"}}, 403, ["from.email"], id="sender-domain"
    ),
    pytest.param(
        {"from": "x@sub.acme.example.com"}, 403, ["from.email"], id="subdomain-not-listed"
    ),
    # CR/LF in anything that becomes a header
    pytest.param({"subject": "Hi\r\nBcc: x@evil.example.net"}, 422, ["subject"], id="crlf-subject"),
    pytest.param({"subject": "Hi\nthere"}, 422, ["subject"], id="lf-subject"),
    pytest.param(
        {"from": {"email": "noreply@acme.example.com", "name": "A\r\nBcc: x@evil.example.net"}},
        422,
        ["from.name"],
        id="crlf-from-name",
    ),
    pytest.param(
        {"replyTo": "a@example.org\r\nBcc: x@evil.example.net"}, 422, ["replyTo"], id="crlf-replyTo"
    ),
    pytest.param(
        {"attachments": [{"filename": "a\r\n.pdf", "content": PDF, "contentType": "text/plain"}]},
        422,
        ["attachments[0].filename"],
        id="crlf-filename",
    ),
    pytest.param(
        {"to": ["a@example.org\r\nBcc: x@evil.example.net"]}, 422, ["to[0]"], id="crlf-recipient"
    ),
    # Handlebars that does not parse
    pytest.param({"subject": "Hi {{#if vip}}VIP"}, 422, ["subject"], id="unclosed-if-subject"),
    pytest.param({"htmlBody": "<p>{{#if}}</p>"}, 422, ["htmlBody"], id="bare-if-htmlBody"),
    pytest.param({"htmlBody": "<p>{{/if}}</p>"}, 422, ["htmlBody"], id="stray-close-htmlBody"),
    pytest.param({"textBody": "{{#each xs}}{{this}}"}, 422, ["textBody"], id="unclosed-each-text"),
    pytest.param({"textBody": "Hello {{name"}, 422, ["textBody"], id="unterminated-mustache"),
    pytest.param(
        {"htmlBody": "{{#if a}}x{{/each}}"}, 422, ["htmlBody"], id="mismatched-close-htmlBody"
    ),
    # attachments
    pytest.param(
        {"attachments": [{"filename": "a.pdf", "content": "not base64!", "contentType": "x"}]},
        422,
        ["attachments[0].content"],
        id="bad-base64",
    ),
    pytest.param(
        {
            "attachments": [
                {"filename": "a.exe", "content": PDF, "contentType": "application/x-msdownload"}
            ]
        },
        422,
        ["attachments[0].contentType"],
        id="mime-not-allowed",
    ),
    pytest.param(
        {
            "attachments": [
                {"filename": f"{i}.pdf", "content": PDF, "contentType": "application/pdf"}
                for i in range(11)
            ]
        },
        413,
        ["attachments"],
        id="eleven-attachments",
    ),
    pytest.param(
        {"attachments": [{"filename": "../x.pdf", "content": PDF, "contentType": "text/plain"}]},
        422,
        ["attachments[0].filename"],
        id="path-in-filename",
    ),
    pytest.param(
        {"attachments": [{"filename": "a.pdf", "content": PDF}]},
        422,
        ["attachments[0].contentType"],
        id="attachment-without-type",
    ),
    # wrong types and unknown fields
    pytest.param({"to": "ada@example.org"}, 422, ["to"], id="to-not-a-list"),
    pytest.param({"to": [1]}, 422, ["to[0]"], id="to-item-not-a-string"),
    pytest.param({"subject": 5}, 422, ["subject"], id="subject-not-a-string"),
    pytest.param({"priority": "urgent"}, 422, ["priority"], id="unknown-priority"),
    pytest.param({"variables": []}, 422, ["variables"], id="variables-not-an-object"),
    pytest.param({"metadata": {"tags": "x"}}, 422, ["metadata.tags"], id="tags-not-a-list"),
    pytest.param({"metadata": {"category": 5}}, 422, ["metadata.category"], id="category-type"),
    pytest.param(
        {"attachments": [{"filename": 1, "content": PDF, "contentType": "application/pdf"}]},
        422,
        ["attachments[0].filename"],
        id="filename-not-a-string",
    ),
    pytest.param({"bogus": 1}, 422, ["bogus"], id="unknown-field"),
    pytest.param(
        {"from": {"email": "noreply@acme.example.com", "bogus": 1}},
        422,
        ["from.bogus"],
        id="unknown-in",
    ),
    pytest.param({"idempotencyKey": ""}, 422, ["idempotencyKey"], id="empty-idempotency-key"),
    pytest.param({"idempotencyKey": "k" * 256}, 422, ["idempotencyKey"], id="long-key"),
    pytest.param({"scheduledAt": "2000-01-01T00:00:00Z"}, 422, ["scheduledAt"], id="past"),
    pytest.param({"scheduledAt": "tomorrow"}, 422, ["scheduledAt"], id="not-a-date"),
    pytest.param({"queue": "no-such-queue"}, 422, ["queue"], id="unknown-queue"),
    # variables nested deeper than [render] max_variable_depth (32): refused at accept (§10.1)
    pytest.param({"variables": _nested(33)}, 422, ["variables"], id="variables-too-deep"),
    pytest.param(
        {"variables": {"l": [_nested(40)]}}, 422, ["variables"], id="variables-deep-in-a-list"
    ),
    # several problems at once are all named
    pytest.param(
        {"to": ["bad"], "subject": "a\r\nb", "htmlBody": "{{#if}}"},
        422,
        ["to[0]", "subject", "htmlBody"],
        id="all-errors-named",
    ),
]


@pytest.mark.parametrize(("overrides", "status", "fields"), BAD_INPUTS)
async def test_bad_input_is_a_problem_naming_the_field_and_writes_nothing(
    api: Api, overrides: dict[str, Any], status: int, fields: list[str]
) -> None:
    with api.writes_nothing():
        resp = await api.send(**overrides)

    assert_problem(resp, status, *fields)


@pytest.mark.parametrize(
    ("content", "status", "field_name"),
    [
        pytest.param(b'{"to": ["a@example.org"', 400, "body", id="malformed-json"),
        pytest.param(b"not json at all", 400, "body", id="not-json"),
        pytest.param(b"", 422, "body", id="empty-body"),
        pytest.param(b"[]", 422, "body", id="array-body"),
        pytest.param(b"null", 422, "body", id="null-body"),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_refused(
    api: Api, content: bytes, status: int, field_name: str
) -> None:
    headers = {**api.auth(), "content-type": "application/json"}

    with api.writes_nothing():
        resp = await api.client.post("/v1/messages", content=content, headers=headers)

    assert_problem(resp, status, field_name)


async def test_attachment_over_10_mb_is_413_and_writes_no_file(api: Api) -> None:
    big = base64.b64encode(b"\0" * (10 * MB + 1)).decode()
    attachment = {"filename": "big.pdf", "content": big, "contentType": "application/pdf"}

    with api.writes_nothing():
        resp = await api.send(attachments=[attachment])

    assert_problem(resp, 413, "attachments[0].content")


async def test_attachment_of_exactly_10_mb_is_accepted(api: Api) -> None:
    exact = base64.b64encode(b"\0" * (10 * MB)).decode()
    attachment = {"filename": "ok.pdf", "content": exact, "contentType": "application/pdf"}

    assert (await api.send(attachments=[attachment])).status_code == 202


async def test_request_over_30_mb_is_413(api: Api) -> None:
    padding = " " * (30 * MB + 1)
    content = b'{"to": ["a@example.org"],' + padding.encode() + b"}"
    headers = {**api.auth(), "content-type": "application/json"}

    with api.writes_nothing():
        resp = await api.client.post("/v1/messages", content=content, headers=headers)

    assert_problem(resp, 413, "body")


def small(n: int, size: int) -> list[dict[str, str]]:
    data = base64.b64encode(b"x" * size).decode()
    return [
        {"filename": f"{i}.pdf", "content": data, "contentType": "application/pdf"}
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("attachments", "field_name"),
    [
        pytest.param(small(1, 1001), "attachments[0].content", id="file-over-tenant-limit"),
        pytest.param(small(2, 800), "attachments", id="total-over-tenant-limit"),
        pytest.param(small(3, 10), "attachments", id="count-over-tenant-limit"),
    ],
)
async def test_attachment_limits_are_the_tenants_own(
    api: Api, attachments: list[dict[str, str]], field_name: str
) -> None:
    with api.writes_nothing():
        resp = await api.send("small", attachments=attachments)

    assert_problem(resp, 413, field_name)


async def test_attachments_within_the_tenants_limits_are_accepted(api: Api) -> None:
    assert (await api.send("small", attachments=small(2, 700))).status_code == 202


async def test_idempotency_header_and_body_key_that_differ_are_refused(api: Api) -> None:
    headers = {**api.auth(), "Idempotency-Key": "header-key"}

    with api.writes_nothing():
        resp = await api.client.post(
            "/v1/messages", json=body(idempotencyKey="body-key"), headers=headers
        )

    assert_problem(resp, 422, "idempotencyKey")


# ---- accepting -------------------------------------------------------------------------------


async def test_accepted_message_is_stored_with_its_job_and_queued_event(api: Api) -> None:
    before = api.counts()

    resp = await api.send(
        cc=["cc@example.org"], bcc=["bcc@example.org"], replyTo="r@acme.example.com"
    )

    assert resp.status_code == 202
    answer = resp.json()
    assert answer == {
        "messageId": answer["messageId"],
        "status": "queued",
        "suppressedRecipients": [],
    }
    messages, jobs, events, attachments = api.counts()
    assert (messages, jobs, events, attachments) == (
        before[0] + 1,
        before[1] + 1,
        before[2] + 1,
        before[3],
    )


async def test_get_returns_the_message_and_its_queued_event(api: Api) -> None:
    message_id = await api.accepted(metadata={"category": "welcome", "tags": ["a"]})

    resp = await api.client.get(f"/v1/messages/{message_id}", headers=api.auth())

    assert resp.status_code == 200
    m = resp.json()
    assert m["messageId"] == message_id
    assert m["status"] == "queued"
    assert (m["to"], m["cc"], m["bcc"]) == (["ada@example.org"], [], [])
    assert m["from"] == {"email": "noreply@acme.example.com", "name": "Acme"}
    assert m["subject"] == "Hi {{name}}"  # raw until rendered
    assert (m["priority"], m["attempts"], m["provider"], m["lastError"]) == (
        "normal",
        0,
        None,
        None,
    )
    assert m["metadata"] == {"category": "welcome", "tags": ["a"]}
    assert (m["replyTo"], m["scheduledAt"], m["sentAt"]) == (None, None, None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", m["createdAt"])
    assert [e["type"] for e in m["events"]] == ["queued"]
    assert m["events"][0]["timestamp"].endswith("Z")
    assert m["events"][0]["data"] == {}


async def test_priority_is_stored_on_the_job(api: Api) -> None:
    high = await api.accepted(priority="high")
    low = await api.accepted(priority="low")
    normal = await api.accepted()

    rows = dict(api.sql("SELECT ref_id, priority FROM jobs WHERE ref_id IN (?, ?, ?)", high, low,
                        normal))  # fmt: skip

    assert rows == {high: 0, normal: 1, low: 2}


async def test_scheduled_message_answers_scheduled(api: Api) -> None:
    when = ids.iso(api.clock.now() + timedelta(hours=2))

    resp = await api.send(scheduledAt=when)

    assert (resp.status_code, resp.json()["status"]) == (202, "scheduled")


async def test_attachments_are_written_under_tenant_and_message_before_the_answer(
    api: Api,
) -> None:
    attachments = [
        {"filename": "report.pdf", "content": PDF, "contentType": "application/pdf"},
        {"filename": "notes.txt", "content": "aGk=", "contentType": "text/plain; charset=utf-8"},
    ]

    message_id = await api.accepted(attachments=attachments)

    root = Path(api.rt.config.storage.attachments_dir) / api.tenants["acme"] / message_id
    stored = sorted(p.read_bytes() for p in root.iterdir())
    assert stored == sorted([b"%PDF-1.4 tiny", b"hi"])
    m = (await api.client.get(f"/v1/messages/{message_id}", headers=api.auth())).json()
    assert m["attachments"] == [
        {"filename": "report.pdf", "contentType": "application/pdf", "sizeBytes": 13},
        {"filename": "notes.txt", "contentType": "text/plain", "sizeBytes": 2},
    ]


async def test_a_plain_string_from_is_accepted(api: Api) -> None:
    message_id = await api.accepted(**{"from": "Noreply@ACME.Example.com"})

    m = (await api.client.get(f"/v1/messages/{message_id}", headers=api.auth())).json()
    assert m["from"]["email"].lower() == "noreply@acme.example.com"


# ---- idempotency -----------------------------------------------------------------------------


async def test_replay_with_the_same_key_is_200_with_the_original_id_and_writes_nothing(
    api: Api,
) -> None:
    key = str(uuid.uuid4())
    first = await api.send(idempotencyKey=key)

    with api.writes_nothing():
        again = await api.send(idempotencyKey=key)

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {
        "messageId": first.json()["messageId"],
        "status": "queued",
        "suppressedRecipients": [],
    }


async def test_same_key_with_another_body_is_409_naming_the_original_message(api: Api) -> None:
    key = str(uuid.uuid4())
    first = await api.accepted(idempotencyKey=key)

    with api.writes_nothing():
        resp = await api.send(idempotencyKey=key, subject="Something else")

    problem = assert_problem(resp, 409)
    assert problem["messageId"] == first


async def test_header_key_and_body_key_mean_the_same(api: Api) -> None:
    key = str(uuid.uuid4())
    by_header = await api.client.post(
        "/v1/messages", json=body(), headers={**api.auth(), "Idempotency-Key": key}
    )

    by_body = await api.send(idempotencyKey=key)
    both = await api.client.post(
        "/v1/messages",
        json=body(idempotencyKey=key),
        headers={**api.auth(), "Idempotency-Key": key},
    )

    assert by_header.status_code == 202
    assert (by_body.status_code, both.status_code) == (200, 200)
    assert by_body.json()["messageId"] == by_header.json()["messageId"]
    assert both.json()["messageId"] == by_header.json()["messageId"]


async def test_concurrent_duplicates_give_one_202_and_the_rest_200_with_the_same_id(
    api: Api,
) -> None:
    key = str(uuid.uuid4())
    before = api.counts()

    answers = await asyncio.gather(*(api.send(idempotencyKey=key) for _ in range(20)))

    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 19 + [202]
    assert len({r.json()["messageId"] for r in answers}) == 1
    assert api.counts()[:3] == (before[0] + 1, before[1] + 1, before[2] + 1)


async def test_idempotency_keys_do_not_cross_tenants(api: Api) -> None:
    key = str(uuid.uuid4())
    mine = await api.accepted(idempotencyKey=key)

    theirs = await api.send("other", idempotencyKey=key, **{"from": "a@acme.example.com"})

    assert theirs.status_code == 202
    assert theirs.json()["messageId"] != mine


# ---- auth ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-key"),
        pytest.param({"x-api-key": "garbage"}, id="garbage"),
        pytest.param({"x-api-key": "iep_abcdefgh_" + "x" * 40}, id="unknown-prefix"),
        pytest.param({"authorization": "Basic Zm9vOmJhcg=="}, id="basic-auth"),
        pytest.param({"authorization": "Bearer "}, id="empty-bearer"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_without_a_valid_key_the_answer_is_401_problem(
    api: Api, headers: dict[str, str], method: str
) -> None:
    with api.writes_nothing():
        resp = await api.client.request(method, "/v1/messages", json=body(), headers=headers)

    assert_problem(resp, 401)


async def test_a_tampered_secret_is_401(api: Api) -> None:
    key = api.keys["acme"]
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")

    resp = await api.client.get("/v1/messages", headers={"x-api-key": tampered})

    assert_problem(resp, 401)


@pytest.mark.parametrize("who", ["revoked", "expired"])
async def test_revoked_or_expired_key_is_401(api: Api, who: str) -> None:
    with api.writes_nothing():
        post = await api.send(who)
    get = await api.client.get("/v1/messages", headers=api.auth(who))

    assert_problem(post, 401)
    assert_problem(get, 401)


async def test_revoking_a_key_in_use_takes_effect_at_once(api: Api) -> None:
    tenant_id = api.tenants["acme"]
    created = await api.rt.services.keys.create(tenant_id, ["read"], name="soon-revoked")
    headers = {"x-api-key": created.key}
    assert (await api.client.get("/v1/messages", headers=headers)).status_code == 200

    await api.rt.services.keys.revoke(tenant_id, created.record.id)

    assert_problem(await api.client.get("/v1/messages", headers=headers), 401)


async def test_send_only_key_cannot_read(api: Api) -> None:
    message_id = await api.accepted("send-only")

    one = await api.client.get(f"/v1/messages/{message_id}", headers=api.auth("send-only"))
    many = await api.client.get("/v1/messages", headers=api.auth("send-only"))

    assert_problem(one, 403)
    assert_problem(many, 403)


async def test_read_only_key_cannot_send(api: Api) -> None:
    with api.writes_nothing():
        resp = await api.send("read-only")

    assert_problem(resp, 403)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
async def test_bearer_authorization_works_like_x_api_key(api: Api, scheme: str) -> None:
    headers = {"authorization": f"{scheme} {api.keys['acme']}"}

    sent = await api.client.post("/v1/messages", json=body(), headers=headers)
    read = await api.client.get(f"/v1/messages/{sent.json()['messageId']}", headers=headers)

    assert (sent.status_code, read.status_code) == (202, 200)


# ---- tenant isolation ------------------------------------------------------------------------


async def test_other_tenants_message_is_404(api: Api) -> None:
    message_id = await api.accepted()

    resp = await api.client.get(f"/v1/messages/{message_id}", headers=api.auth("other"))

    assert_problem(resp, 404)


async def test_other_tenants_messages_never_appear_in_a_list(api: Api) -> None:
    message_id = await api.accepted()

    resp = await api.client.get("/v1/messages?limit=200", headers=api.auth("other"))

    assert message_id not in {m["messageId"] for m in resp.json()["data"]}


async def test_unknown_message_id_is_404(api: Api) -> None:
    resp = await api.client.get(f"/v1/messages/{uuid.uuid4()}", headers=api.auth())

    assert_problem(resp, 404)


async def test_retrying_a_message_that_has_not_failed_is_409(api: Api) -> None:
    message_id = await api.accepted()

    mine = await api.client.post(f"/v1/messages/{message_id}/retry", headers=api.auth())
    theirs = await api.client.post(f"/v1/messages/{message_id}/retry", headers=api.auth("other"))

    assert_problem(mine, 409)
    assert_problem(theirs, 404)


# ---- listing ---------------------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="module")
async def lister(api: Api) -> dict[str, str]:
    """A fresh tenant with five messages over three days; returns name -> messageId."""
    slug = f"list-{uuid.uuid4().hex[:8]}"
    await api.new_tenant(slug)
    made = {}
    day = timedelta(days=1)
    made["m1"] = await api.accepted(
        slug, to=["a@example.org"], metadata={"category": "billing", "tags": ["x"]}
    )
    api.clock.advance(day.total_seconds())
    made["m2"] = await api.accepted(
        slug,
        to=["b@example.org"],
        cc=["A@Example.org"],
        metadata={"category": "news", "tags": ["y"]},
    )
    made["m3"] = await api.accepted(slug, to=["c@example.org"], bcc=["a@example.org"])
    api.clock.advance(day.total_seconds())
    made["m4"] = await api.accepted(
        slug,
        to=["d@example.org"],
        metadata={"category": "billing", "tags": ["x", "y"]},
        scheduledAt=ids.iso(api.clock.now() + day),
    )
    made["m5"] = await api.accepted(slug, to=["e@example.org"])
    made["slug"] = slug
    return made


async def listed(api: Api, slug: str, query: str) -> list[str]:
    resp = await api.client.get(f"/v1/messages?{query}", headers=api.auth(slug))
    assert resp.status_code == 200, resp.text
    return [m["messageId"] for m in resp.json()["data"]]


async def test_list_is_newest_first_with_list_item_fields(api: Api, lister: dict[str, str]) -> None:
    resp = await api.client.get("/v1/messages", headers=api.auth(lister["slug"]))

    page = resp.json()
    assert set(page) == {"data", "nextCursor"}
    assert page["nextCursor"] is None
    ids_ = [m["messageId"] for m in page["data"]]
    assert set(ids_) == {lister[k] for k in ("m1", "m2", "m3", "m4", "m5")}
    assert ids_[-1] == lister["m1"]
    assert "events" not in page["data"][0]
    assert {"status", "to", "from", "subject", "createdAt", "priority"} <= set(page["data"][0])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=scheduled", {"m4"}),
        ("status=queued", {"m1", "m2", "m3", "m5"}),
        ("status=sent", set()),
        ("recipient=a@example.org", {"m1", "m2", "m3"}),
        ("recipient=A@EXAMPLE.ORG", {"m1", "m2", "m3"}),
        ("recipient=e@example.org", {"m5"}),
        ("category=billing", {"m1", "m4"}),
        ("tag=y", {"m2", "m4"}),
        ("tag=x&category=billing", {"m1", "m4"}),
        ("from=2026-01-02", {"m2", "m3", "m4", "m5"}),
        ("to=2026-01-02", {"m1", "m2", "m3"}),  # a bare date as `to` includes that day
        ("from=2026-01-02&to=2026-01-02", {"m2", "m3"}),
        ("from=2026-01-02&to=2026-01-03", {"m2", "m3", "m4", "m5"}),
        ("from=2026-01-02T00:00:00Z&to=2026-01-03T00:00:00Z", {"m2", "m3"}),
        ("status=queued&recipient=a@example.org&from=2026-01-02", {"m2", "m3"}),
    ],
)
async def test_list_filters(
    api: Api, lister: dict[str, str], query: str, expected: set[str]
) -> None:
    # The lister's days are relative to the shared clock: shift the dates in the query.
    start = ids.parse_iso(
        (
            await api.client.get(f"/v1/messages/{lister['m1']}", headers=api.auth(lister["slug"]))
        ).json()["createdAt"]
    )
    for n in (3, 2):
        day = (start + timedelta(days=n - 1)).date().isoformat()
        query = query.replace(f"2026-01-0{n}", day)

    got = await listed(api, lister["slug"], query)

    assert set(got) == {lister[k] for k in expected}
    assert len(got) == len(set(got))


@pytest.mark.parametrize(
    ("query", "field_name"),
    [
        ("status=lost", "status"),
        ("from=yesterday", "from"),
        ("to=2026-13-45", "to"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("cursor=not-a-cursor", "cursor"),
    ],
)
async def test_bad_list_parameters_are_422_naming_the_parameter(
    api: Api, query: str, field_name: str
) -> None:
    resp = await api.client.get(f"/v1/messages?{query}", headers=api.auth())

    assert_problem(resp, 422, field_name)


async def test_cursor_pagination_visits_every_message_once(api: Api) -> None:
    slug = f"pages-{uuid.uuid4().hex[:8]}"
    await api.new_tenant(slug)
    made = []
    for i in range(11):
        made.append(await api.accepted(slug, to=[f"p{i}@example.org"]))
        if i % 3 == 0:
            api.clock.advance(1)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = (await api.client.get(f"/v1/messages?{query}", headers=api.auth(slug))).json()
        pages += 1
        seen += [m["messageId"] for m in page["data"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
        assert pages < 10

    assert len(seen) == len(set(seen)) == 11
    assert set(seen) == set(made)
    assert pages == 3


async def test_cursor_pagination_keeps_the_filter(api: Api, lister: dict[str, str]) -> None:
    slug = lister["slug"]
    first = await api.client.get("/v1/messages?status=queued&limit=2", headers=api.auth(slug))
    page1 = first.json()
    page2 = (
        await api.client.get(
            f"/v1/messages?status=queued&limit=2&cursor={page1['nextCursor']}",
            headers=api.auth(slug),
        )
    ).json()

    got = [m["messageId"] for m in page1["data"] + page2["data"]]
    assert set(got) == {lister[k] for k in ("m1", "m2", "m3", "m5")}


# ---- system endpoints ------------------------------------------------------------------------


async def test_health_answers_ok_and_the_version(api: Api) -> None:
    resp = await api.client.get("/health")

    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "version": resp.json()["version"]}
    assert re.fullmatch(r"\d+\.\d+\.\d+", resp.json()["version"])


async def test_ready_is_200_when_the_store_is_writable(api: Api) -> None:
    resp = await api.client.get("/ready")

    assert resp.status_code == 200
    assert resp.json()["status"] == "ready"


async def test_ready_is_503_while_not_ready(api: Api) -> None:
    api.rt.ready = False
    try:
        resp = await api.client.get("/ready")
    finally:
        api.rt.ready = True

    assert resp.status_code == 503


async def test_metrics_count_accepted_messages_by_tenant_and_request_latency(api: Api) -> None:
    await api.accepted()

    resp = await api.client.get("/metrics")

    assert resp.status_code == 200
    text = resp.text
    tenant = api.tenants["acme"]
    accepted = re.search(rf'iep_messages_accepted_total{{tenant="{tenant}"}} (\d+)', text)
    assert accepted is not None and float(accepted.group(1)) >= 1
    assert "iep_http_request_duration_seconds_bucket" in text
    assert 'route="/v1/messages"' in text


async def test_openapi_lists_every_v1_endpoint_with_its_method(api: Api) -> None:
    resp = await api.client.get("/schema/openapi.json")

    assert resp.status_code == 200
    documented = {
        (path, method.upper())
        for path, item in resp.json()["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    served = {
        (re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path), method)
        for route in api.client.app.routes
        if route.path.startswith("/v1")
        for method in getattr(route, "methods", ())
        if method not in {"HEAD", "OPTIONS"}
    }
    assert served, "no /v1 routes found"
    assert served <= documented
    assert ("/v1/messages", "POST") in documented
    assert ("/v1/messages/{message_id}", "GET") in documented


async def test_openapi_documents_the_send_body(api: Api) -> None:
    spec = (await api.client.get("/schema/openapi.json")).json()

    post = spec["paths"]["/v1/messages"]["post"]
    assert "requestBody" in post
    assert "202" in post["responses"]


async def test_schema_page_is_served(api: Api) -> None:
    resp = await api.client.get("/schema")

    assert resp.status_code == 200


async def test_unknown_route_is_a_404_problem(api: Api) -> None:
    assert_problem(await api.client.get("/v1/nothing-here", headers=api.auth()), 404)


# ---- the ASGI fast path of POST /v1/messages (api/fast_send.py) ---------------------------


def _answer(resp: httpx.Response) -> tuple[int, str, set[str], list[str]]:
    data = resp.json()
    errors = sorted(json.dumps(e, sort_keys=True) for e in data.get("errors", []))
    return resp.status_code, resp.headers["content-type"], set(data), errors


def _deep(levels: int) -> bytes:
    """A send whose `variables.x` is `levels` nested arrays (the body nests levels + 2)."""
    return (
        json.dumps(body(variables={"x": "DEEP"}))
        .encode()
        .replace(b'"DEEP"', b"[" * levels + b"]" * levels)
    )


# (request body, expected status, fields the answer must name)
_SAME_ANSWER_CASES = [
    pytest.param(body(), 202, (), id="accepted"),
    pytest.param(body(to=["not-an-address"]), 422, ("to[0]",), id="bad-recipient"),
    pytest.param(
        body(**{"from": {"email": "x@elsewhere.example"}}), 403, ("from.email",), id="sender"
    ),
    pytest.param(_deep(5000), 400, ("body",), id="nested-5000-deep"),
    pytest.param(_deep(63), 400, ("body",), id="nested-65-deep"),
    # 64 levels pass the JSON guard; variables that deep then exceed [render] max_variable_depth.
    pytest.param(_deep(62), 422, ("variables",), id="nested-64-passes-the-guard"),
    pytest.param(
        json.dumps(body(subject="Hi BAD")).encode().replace(b"BAD", b"\xff\xfe"),
        400,
        ("body",),
        id="invalid-utf8",
    ),
    pytest.param(
        body(
            subject="Hi\x00there",
            htmlBody="<p>\x00</p>",
            **{"from": {"email": "noreply@acme.example.com", "name": "Ac\x00me"}},
        ),
        422,
        ("subject", "from.name", "htmlBody"),
        id="nul-in-fields",
    ),
    pytest.param(
        body(subject=7, to="ada@example.org", priority="urgent", colour="red"),
        422,
        ("subject", "to", "priority", "colour"),
        id="several-bad-types",
    ),
    pytest.param(
        body(subject=7, cc=["not-an-address"], htmlBody="{{#if}}"),
        422,
        ("subject", "cc[0]", "htmlBody"),
        id="bad-types-and-bad-values",
    ),
]


@pytest.mark.parametrize(("payload", "status", "fields"), _SAME_ANSWER_CASES)
async def test_fast_path_answers_exactly_as_the_litestar_handler(
    api: Api, payload: Any, status: int, fields: tuple[str, ...]
) -> None:
    """`application/json` goes through the fast path; `application/json;charset=utf-8` (not
    the fast path's spelling) through Litestar's handler: both must give the same answer,
    never a 500, and write alike."""
    content = payload if isinstance(payload, bytes) else msgspec_json(payload)
    fast = await api.client.post(
        "/v1/messages", content=content, headers={**api.auth(), "content-type": "application/json"}
    )
    slow = await api.client.post(
        "/v1/messages",
        content=content,
        headers={**api.auth(), "content-type": "application/json;charset=utf-8"},
    )
    assert _answer(fast) == _answer(slow)
    if status >= 400:
        assert assert_problem(fast, status, *fields) == slow.json()
    else:
        assert fast.status_code == status, fast.text
        for resp in (fast, slow):
            [row] = api.sql("SELECT status FROM messages WHERE id = ?", resp.json()["messageId"])
            assert row == ("queued",)


async def test_fast_path_hands_a_body_it_cannot_decode_strictly_to_litestar(api: Api) -> None:
    # A number where the schema wants a string: not strict JSON of the schema; Litestar decides.
    resp = await api.client.post(
        "/v1/messages",
        content=msgspec_json(body(subject=7)),
        headers={**api.auth(), "content-type": "application/json"},
    )
    assert_problem(resp, 422, "subject")


async def test_fast_path_counts_the_request_in_the_latency_metric(api: Api) -> None:
    text_before = (await api.client.get("/metrics")).text
    await api.accepted()
    text_after = (await api.client.get("/metrics")).text

    def count(text: str) -> float:
        found = re.search(
            r'iep_http_request_duration_seconds_count\{method="POST",route="/v1/messages",'
            r'status="202"\} (\S+)',
            text,
        )
        return float(found.group(1)) if found else 0.0

    assert count(text_after) == count(text_before) + 1


def msgspec_json(data: Any) -> bytes:
    return json.dumps(data).encode()
