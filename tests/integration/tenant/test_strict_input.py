"""Strict input on every /v1 endpoint (DESIGN §10.1): 415 for a body that is not JSON, 400 for
invalid UTF-8 or nesting past 64, 422 naming each field that holds a NUL, 400 naming unknown
query parameters, and every field error of a decodable body in one answer. Each refusal is a
problem+json and writes nothing. (The fast path of POST /v1/messages is compared with the
Litestar handler on the same cases in tests/integration/test_api_messages.py.)"""

import json
import sqlite3
from typing import Any

import pytest

from tests.integration.tenant.conftest import Appliance, message
from tests.support.problems import assert_problem

# (method, path, a valid JSON body) for endpoints that take JSON
JSON_ENDPOINTS = [
    ("POST", "/v1/messages", message()),
    ("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/hook"}),
    ("PATCH", "/v1/tenant", {"name": "Acme Ltd"}),
    ("POST", "/v1/api-keys", {"name": "ci"}),
    ("POST", "/v1/suppressions", {"emails": ["a@example.org"]}),
    ("POST", "/v1/domains", {"domain": "new.example"}),
]


async def counts(appliance: Appliance) -> tuple[int, ...]:
    db = sqlite3.connect(f"file:{appliance.rt.config.storage.path}?mode=ro", uri=True)
    try:
        return tuple(
            db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("messages", "webhook_endpoints", "api_keys", "suppression_list")
        )
    finally:
        db.close()


@pytest.mark.parametrize(("method", "path", "data"), JSON_ENDPOINTS)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
async def test_a_body_that_is_not_json_is_415(
    appliance: Appliance, method: str, path: str, data: Any, content_type: str
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    before = await counts(appliance)

    resp = await appliance.client.request(
        method,
        path,
        content=json.dumps(data).encode(),
        headers={**acme.auth, "content-type": content_type},
    )

    assert_problem(resp, 415, "content-type")
    assert await counts(appliance) == before


@pytest.mark.parametrize(("method", "path", "data"), JSON_ENDPOINTS)
async def test_json_spellings_are_accepted(
    appliance: Appliance, method: str, path: str, data: Any
) -> None:
    appliance.configure(webhooks={"allow_private_networks": True})
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    resp = await appliance.client.request(
        method,
        path,
        content=json.dumps(data).encode(),
        headers={**acme.auth, "content-type": "Application/JSON; charset=UTF-8"},
    )

    assert resp.status_code < 300, resp.text


@pytest.mark.parametrize(("method", "path", "data"), JSON_ENDPOINTS)
async def test_deep_nesting_and_invalid_utf8_are_400_everywhere(
    appliance: Appliance, method: str, path: str, data: Any
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    headers = {**acme.auth, "content-type": "application/json"}
    deep = b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    not_utf8 = json.dumps(data).encode()[:-1] + b', "x": "\xc3\x28"}'
    before = await counts(appliance)

    for content in (deep, not_utf8):
        resp = await appliance.client.request(method, path, content=content, headers=headers)
        assert_problem(resp, 400, "body")
    assert await counts(appliance) == before


async def test_nul_in_any_field_is_422_naming_each(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    body = message(
        subject="Hi\x00",
        to=["ada@example.org"],
        variables={"name": "A\x00da"},
        metadata={"tags": ["ok", "n\x00"]},
    )
    body["from"] = {"email": "noreply@example.com", "name": "Pro\x00duct"}
    before = await counts(appliance)

    resp = await appliance.client.post("/v1/messages", json=body, headers=acme.auth)
    hook = await appliance.client.post(
        "/v1/webhooks", json={"url": "https://hooks.example.com/\x00"}, headers=acme.auth
    )

    assert_problem(resp, 422, "subject", "from.name", "variables.name", "metadata.tags[1]")
    assert_problem(hook, 422, "url")
    assert await counts(appliance) == before


async def test_an_escaped_backslash_u0000_is_text_not_nul(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    resp = await appliance.client.post(
        "/v1/messages", json=message(subject="literally \\u0000"), headers=acme.auth
    )

    assert resp.status_code == 202, resp.text


@pytest.mark.parametrize(
    ("path", "unknown"),
    [
        ("/v1/messages?statuss=failed", ["statuss"]),
        ("/v1/messages?status=failed&colour=red&size=1", ["colour", "size"]),
        ("/v1/suppressions?q=x", ["q"]),
        ("/v1/api-keys?all=1", ["all"]),
        ("/v1/domains?status=pending", ["status"]),
        ("/v1/webhooks?limit=5&active=true&x=1", ["active", "x"]),
    ],
)
async def test_unknown_query_parameters_are_400_naming_them(
    appliance: Appliance, path: str, unknown: list[str]
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    resp = await appliance.client.get(path, headers=acme.auth)

    body = assert_problem(resp, 400, *unknown)
    assert sorted(e["field"] for e in body["errors"]) == sorted(unknown)


async def test_known_query_parameters_still_filter(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    resp = await appliance.client.get(
        "/v1/messages?status=failed&limit=5&from=2026-01-01&recipient=a@example.org",
        headers=acme.auth,
    )

    assert resp.status_code == 200, resp.text
    assert resp.json()["data"] == []


async def test_every_bad_field_is_named_in_one_answer(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    send = message(subject=7, cc=["nope"], priority="urgent", colour="red")
    send["from"] = {"name": "no email"}
    send["htmlBody"] = "{{#if}}"
    before = await counts(appliance)

    resp = await appliance.client.post("/v1/messages", json=send, headers=acme.auth)
    hook = await appliance.client.post(
        "/v1/webhooks", json={"url": 5, "events": "all", "bogus": True}, headers=acme.auth
    )
    batch = {**message(subject=7), "recipients": "x", "extra": 1}
    batch.pop("to")
    batched = await appliance.client.post("/v1/messages/batch", json=batch, headers=acme.auth)

    assert_problem(resp, 422, "subject", "cc[0]", "priority", "colour", "from.email", "htmlBody")
    assert_problem(hook, 422, "url", "events", "bogus")
    assert_problem(batched, 422, "subject", "recipients", "extra")
    assert await counts(appliance) == before
