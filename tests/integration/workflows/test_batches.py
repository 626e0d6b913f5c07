"""POST /v1/messages/batch and /v1/batches/{id}: one message per recipient
entry, each rendered with its own variables merged over the shared ones; validated as a whole
and accepted in one durable transaction; one idempotency key for the batch."""

import base64
import sqlite3
from pathlib import Path
from typing import Any

from tests.integration.workflows.conftest import Env, batch_body
from tests.support.problems import assert_problem
from tests.support.waiting import wait_until


def rows(env: Env) -> tuple[int, ...]:
    conn = sqlite3.connect(f"file:{env.rt.config.storage.path}?mode=ro", uri=True)
    try:
        return tuple(
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("batches", "messages", "jobs", "events")
        )
    finally:
        conn.close()


def stored_files(env: Env) -> list[Path]:
    return [p for p in Path(env.rt.config.storage.attachments_dir).rglob("*") if p.is_file()]


def people(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"to": [f"user{i}@example.org"], "variables": {"name": f"Person {i}", "code": f"C{i:05d}"}}
        for i in range(start, start + n)
    ]


async def accept(env: Env, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    resp = await env.http.post("/v1/messages/batch", json=body, headers=headers)
    assert resp.status_code == 202, resp.text
    return resp.json()


async def test_1000_recipient_batch_gives_every_recipient_its_own_rendered_message(
    env: Env,
) -> None:
    recipients = people(1000)
    recipients[7] = {"to": ["plain@example.org"]}  # no variables: the shared ones apply
    recipients[8]["variables"] = {"name": "Only Name"}  # `code` comes from the shared ones
    accepted = await accept(env, batch_body(recipients))
    assert accepted["count"] == 1000
    assert accepted["suppressedRecipients"] == []

    await wait_until(lambda: len(env.sink.received) == 1000, timeout=60, message="1000 at sink")
    by_rcpt = {r.rcpt_tos: r for r in env.sink.received}
    assert len(by_rcpt) == 1000, "every recipient got exactly one message"
    for i in (0, 1, 500, 999):
        got = by_rcpt[(f"user{i}@example.org",)]
        assert got.parsed["Subject"] == f"Hello Person {i}"
        assert got.parsed["To"] == f"user{i}@example.org"
        html = got.parsed.get_body(("html",)).get_content()
        assert f"Hello Person {i}, your code is C{i:05d}" in html
    plain = by_rcpt[("plain@example.org",)]
    assert plain.parsed["Subject"] == "Hello friend"
    merged = by_rcpt[("user8@example.org",)].parsed.get_body(("html",)).get_content()
    assert "Hello Only Name, your code is none" in merged
    ids = {str(r.parsed["X-IEP-Message-Id"]) for r in env.sink.received}
    assert len(ids) == 1000, "one message (and id) per recipient"

    async def all_sent() -> dict[str, Any] | None:
        batch = (await env.http.get(f"/v1/batches/{accepted['batchId']}")).json()
        return batch if batch["counts"] == {"sent": 1000} else None

    batch = await wait_until(all_sent, timeout=20)
    assert batch["batchId"] == accepted["batchId"] and batch["count"] == 1000
    assert batch["createdAt"].endswith("Z")


async def test_one_bad_address_rejects_the_batch_naming_its_index_and_writes_nothing(
    env: Env,
) -> None:
    recipients = people(500)
    recipients[42]["to"] = ["not-an-address"]
    recipients[317]["cc"] = ["ok@example.org", "also bad@"]
    before = rows(env)
    resp = await env.http.post("/v1/messages/batch", json=batch_body(recipients))
    body = assert_problem(resp, 422, "recipients[42].to[0]", "recipients[317].cc[1]")
    assert len(body["errors"]) == 2
    assert rows(env) == before
    assert env.sink.received == []


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


async def test_malformed_batches_are_422_naming_the_field(env: Env) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (batch_body([]), "recipients"),
        (batch_body(people(10_001)), "recipients"),
        (batch_body([{"to": []}]), "recipients[0].to"),
        (batch_body([{"to": ["a@example.org"], "nickname": "x"}]), "recipients[0].nickname"),
        (batch_body([{"to": "a@example.org"}]), "recipients[0].to"),
        (batch_body(people(2), htmlBody="<p>{{#if}}</p>"), "htmlBody"),
        (batch_body(people(2), subject="Hi\r\nBcc: x@example.org"), "subject"),
        (batch_body(people(2), queue="nope"), "queue"),
        (batch_body(people(2), scheduledAt="2020-01-01T00:00:00Z"), "scheduledAt"),
        # nested deeper than [render] max_variable_depth (32), shared or per recipient
        (batch_body(people(2), variables=_nested(33)), "variables"),
        (
            batch_body([{"to": ["a@example.org"], "variables": _nested(33)}]),
            "recipients[0].variables",
        ),
    ]
    before = rows(env)
    for body, field in cases:
        resp = await env.http.post("/v1/messages/batch", json=body)
        assert_problem(resp, 422, field)
    assert rows(env) == before


async def test_a_sender_outside_the_tenants_domains_is_403(env: Env) -> None:
    body = batch_body(people(3), **{"from": {"email": "x@elsewhere.example"}})
    assert_problem(await env.http.post("/v1/messages/batch", json=body), 403, "from.email")


async def test_replayed_key_returns_the_same_batch_and_another_body_is_409(env: Env) -> None:
    body = batch_body(people(20), idempotencyKey="campaign-7")
    first = await accept(env, body)
    again = await env.http.post("/v1/messages/batch", json=body)
    assert again.status_code == 200, again.text
    assert again.json()["batchId"] == first["batchId"] and again.json()["count"] == 20
    via_header = await env.http.post(
        "/v1/messages/batch",
        json=batch_body(people(20)),
        headers={"Idempotency-Key": "campaign-7"},
    )
    assert via_header.status_code == 200 and via_header.json()["batchId"] == first["batchId"]
    other = await env.http.post(
        "/v1/messages/batch", json=batch_body(people(21), idempotencyKey="campaign-7")
    )
    problem = assert_problem(other, 409)
    assert problem["batchId"] == first["batchId"]
    await wait_until(lambda: len(env.sink.received) == 20, timeout=20)
    listed = await env.http.get("/v1/messages", params={"limit": 200})
    assert len(listed.json()["data"]) == 20, "the replays created nothing"


async def test_batch_messages_list_pages_through_every_message(env: Env) -> None:
    accepted = await accept(env, batch_body(people(120)))
    other = await accept(env, batch_body(people(5, start=500)))
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 50}
        if cursor:
            params["cursor"] = cursor
        resp = await env.http.get(f"/v1/batches/{accepted['batchId']}/messages", params=params)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        seen.extend(page["data"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == 120
    assert len({m["messageId"] for m in seen}) == 120
    assert {m["batchId"] for m in seen} == {accepted["batchId"]}
    assert other["batchId"] != accepted["batchId"]


async def test_suppressed_recipients_are_listed_in_the_answer(env: Env) -> None:
    resp = await env.http.post("/v1/suppressions", json={"emails": ["USER3@example.org"]})
    assert resp.status_code in (200, 201), resp.text
    accepted = await accept(env, batch_body(people(5)))
    assert accepted["suppressedRecipients"] == ["user3@example.org"]


async def test_a_batch_counts_one_message_per_entry_against_the_rate_limit(env: Env) -> None:
    resp = await env.http.patch("/v1/tenant", json={"rateLimits": {"maxPerMinute": 10}})
    assert resp.status_code == 200, resp.text
    ok = await env.http.post("/v1/messages/batch", json=batch_body(people(6)))
    assert ok.status_code == 202, ok.text
    assert ok.headers["X-RateLimit-Limit"] == "10"
    assert ok.headers["X-RateLimit-Remaining"] == "4"
    over = await env.http.post("/v1/messages/batch", json=batch_body(people(5)))
    assert_problem(over, 429)
    assert "Retry-After" in over.headers
    rejected = await env.http.post("/v1/messages/batch", json=batch_body([{"to": ["bad"]}]))
    assert_problem(rejected, 422, "recipients[0].to[0]")
    fits = await env.http.post("/v1/messages/batch", json=batch_body(people(4)))
    assert fits.status_code == 202, "a rejected batch used none of the budget"


async def test_another_tenants_batch_is_404(env: Env) -> None:
    accepted = await accept(env, batch_body(people(3)))
    other = {"x-api-key": await env.tenant("other")}
    batch_id = accepted["batchId"]
    for method, path in [
        ("GET", f"/v1/batches/{batch_id}"),
        ("GET", f"/v1/batches/{batch_id}/messages"),
        ("POST", f"/v1/batches/{batch_id}/cancel"),
    ]:
        resp = await env.http.request(method, path, headers=other)
        assert_problem(resp, 404)
    assert_problem(await env.http.get("/v1/batches/no-such-batch"), 404)


async def test_batch_scopes_send_to_send_and_read_to_read(env: Env) -> None:
    accepted = await accept(env, batch_body(people(2)))
    read_only = {"x-api-key": await env.key_for("read")}
    send_only = {"x-api-key": await env.key_for("send")}
    body = batch_body(people(2))
    assert_problem(await env.http.post("/v1/messages/batch", json=body, headers=read_only), 403)
    batch_path = f"/v1/batches/{accepted['batchId']}"
    assert_problem(await env.http.post(f"{batch_path}/cancel", headers=read_only), 403)
    assert_problem(await env.http.get(batch_path, headers=send_only), 403)
    assert_problem(await env.http.get(f"{batch_path}/messages", headers=send_only), 403)
    assert (await env.http.get(batch_path, headers=read_only)).status_code == 200
    no_key = await env.http.post("/v1/messages/batch", json=body, headers={"x-api-key": ""})
    assert_problem(no_key, 401)


async def test_shared_attachments_reach_every_recipient(env: Env) -> None:
    pdf = b"%PDF-1.4 shared by the batch\r\n.\r\n"
    attachment = {
        "filename": "terms.pdf",
        "content": base64.b64encode(pdf).decode(),
        "contentType": "application/pdf",
    }
    await accept(env, batch_body(people(3), attachments=[attachment]))
    await wait_until(lambda: len(env.sink.received) == 3, timeout=20)
    for got in env.sink.received:
        [part] = list(got.parsed.iter_attachments())
        assert part.get_filename() == "terms.pdf"
        assert part.get_content() == pdf
    assert len(stored_files(env)) == 1, "the batch stores its attachment once"


async def test_cancelling_a_fully_sent_batch_is_409_not_cancelled(env: Env) -> None:
    accepted = await accept(env, batch_body(people(2)))
    batch_path = f"/v1/batches/{accepted['batchId']}"

    async def all_sent() -> bool:
        counts = (await env.http.get(batch_path)).json()["counts"]
        return counts == {"sent": 2}

    await wait_until(all_sent, timeout=20, message="batch sent")
    resp = await env.http.post(f"{batch_path}/cancel")

    problem = assert_problem(resp, 409)
    assert "Nothing to cancel" in problem["detail"] and "2 sent" in problem["detail"]
    assert (await env.http.get(batch_path)).json()["counts"] == {"sent": 2}
