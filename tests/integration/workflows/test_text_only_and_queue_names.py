"""Text-only messages and queues by name, over real HTTP to a real SMTP sink.

`textBody` without `htmlBody` is a text/plain message with no HTML part, through the fast
path (`application/json`) and the Litestar handler (any other JSON content type) alike,
single sends and batches; neither body is a 422 naming `htmlBody`. Every `/v1/queues/{id}`
route takes the queue's name too.
"""

import json
from typing import Any

import pytest

from tests.integration.workflows.conftest import Env, batch_body, message_body
from tests.support.problems import assert_problem
from tests.support.waiting import wait_until

TEXT = "Hello Ada,\nyour code is 1234.\n"
FAST = "application/json"
HANDLER = "application/json;charset=UTF-8"  # not the fast path's: Litestar's handler


def text_only(**overrides: Any) -> dict[str, Any]:
    body = message_body(
        subject="Code for {{name}}",
        textBody="Hello {{name}},\nyour code is {{code}}.\n",
        variables={"name": "Ada", "code": "1234"},
        **overrides,
    )
    del body["htmlBody"]
    return body


async def post(env: Env, path: str, body: dict[str, Any], content_type: str) -> Any:
    return await env.http.post(
        path, content=json.dumps(body), headers={"content-type": content_type}
    )


@pytest.mark.parametrize("content_type", [FAST, HANDLER], ids=["fast-path", "handler"])
async def test_text_body_without_html_is_one_text_plain_part(env: Env, content_type: str) -> None:
    to = f"text-{len(content_type)}@example.org"

    resp = await post(env, "/v1/messages", text_only(to=[to]), content_type)
    assert resp.status_code == 202, resp.text
    sent = await env.settled(resp.json()["messageId"])
    await wait_until(lambda: any(r.rcpt_tos == (to,) for r in env.sink.received), timeout=10)

    parsed = next(r.parsed for r in env.sink.received if r.rcpt_tos == (to,))
    assert sent["status"] == "sent"
    assert not parsed.is_multipart()
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content() == TEXT
    assert parsed["Subject"] == "Code for Ada"
    assert b"text/html" not in next(r.data for r in env.sink.received if r.rcpt_tos == (to,))


async def test_a_text_only_batch_sends_text_plain_messages(env: Env) -> None:
    body = batch_body([{"to": ["b1@example.org"], "variables": {"name": "B1"}}],
                      textBody="Hi {{name}}")  # fmt: skip
    del body["htmlBody"]

    resp = await env.http.post("/v1/messages/batch", json=body)
    assert resp.status_code == 202, resp.text
    await wait_until(lambda: any(r.rcpt_tos == ("b1@example.org",) for r in env.sink.received),
                     timeout=20)  # fmt: skip

    parsed = next(r.parsed for r in env.sink.received if r.rcpt_tos == ("b1@example.org",))
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content().strip() == "Hi B1"


@pytest.mark.parametrize("content_type", [FAST, HANDLER], ids=["fast-path", "handler"])
@pytest.mark.parametrize("text", [None, "", "  "], ids=["absent", "empty", "blank"])
async def test_no_body_at_all_is_422_naming_html_body(
    env: Env, content_type: str, text: str | None
) -> None:
    body = message_body()
    del body["htmlBody"]
    if text is not None:
        body["textBody"] = text

    resp = await post(env, "/v1/messages", body, content_type)

    problem = assert_problem(resp, 422, "htmlBody")
    assert "textBody" in json.dumps(problem["errors"])


async def test_a_queue_is_addressable_by_name_on_every_route(env: Env) -> None:
    created = await env.queue("bulk", priority=2)

    by_name = await env.http.get("/v1/queues/bulk")
    stats = await env.http.get("/v1/queues/bulk/stats")
    paused = await env.http.post("/v1/queues/bulk/pause")
    patched = await env.http.patch("/v1/queues/bulk", json={"priority": 3})
    resumed = await env.http.post("/v1/queues/bulk/resume")
    default = await env.http.get("/v1/queues/default/stats")
    missing = await env.http.get("/v1/queues/nope/stats")
    deleted = await env.http.delete("/v1/queues/bulk")

    assert by_name.status_code == 200 and by_name.json()["id"] == created["id"]
    assert stats.status_code == 200 and stats.json()["id"] == created["id"]
    assert paused.json()["state"] == "paused" and resumed.json()["state"] == "active"
    assert patched.json()["priority"] == 3
    assert default.status_code == 200 and default.json()["name"] == "default"
    assert_problem(missing, 404)
    assert deleted.status_code == 204
    assert_problem(await env.http.get(f"/v1/queues/{created['id']}"), 404)
