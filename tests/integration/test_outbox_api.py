"""GET/DELETE /v1/outbox (DESIGN §10.2), in-process over a real SQLite file.

Delivery on, every message routed to the built-in outbox provider, so a product's CI can
read back what it sent: listed with filters and paging, one message parsed, the raw MIME.
Another tenant's message is 404 and never listed.
"""

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from iep_appliance.app import build_app
from iep_appliance.config import parse
from iep_appliance.runtime import Runtime
from tests.support.problems import assert_problem
from tests.support.waiting import wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")

PDF = base64.b64encode(b"%PDF-1.4 tiny").decode()


class Ctx:
    def __init__(self, rt: Runtime, client: httpx.AsyncClient) -> None:
        self.rt = rt
        self.client = client
        self.keys: dict[str, str] = {}
        self.ids: list[str] = []

    def auth(self, who: str) -> dict[str, str]:
        return {"x-api-key": self.keys[who]}

    async def outbox(self, who: str = "acme", **params: Any) -> Any:
        resp = await self.client.get("/v1/outbox", params=params, headers=self.auth(who))
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ctx(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Ctx]:
    base = tmp_path_factory.mktemp("outbox")
    cfg = parse(
        {
            "storage": {"path": "data/iep.db", "attachments_dir": "data/attachments"},
            "logging": {"access_log": False},
        },
        base,
        environ={},
    )
    rt = Runtime(cfg)
    await rt.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(rt)), base_url="http://testserver"
        ) as client:
            c = Ctx(rt, client)
            for slug in ("acme", "other"):
                tenant = await rt.services.store.create_tenant(slug, slug, [f"{slug}.example.com"])
                c.keys[slug] = (
                    await rt.services.keys.create(tenant.id, ["send", "read", "admin"])
                ).key
                c.keys[f"{slug}-read"] = (await rt.services.keys.create(tenant.id, ["read"])).key
            for i, (to, subject) in enumerate(
                [
                    ("ada@example.org", "Welcome Ada"),
                    ("bob@example.org", "Invoice 7"),
                    ("ada@example.org", "Invoice 8"),
                ]
            ):
                resp = await client.post(
                    "/v1/messages",
                    headers=c.auth("acme"),
                    json={
                        "to": [to],
                        "from": "noreply@acme.example.com",
                        "subject": subject,
                        "htmlBody": f"<p>Hello {i}</p>",
                        "textBody": f"Hello {i}",
                        "attachments": [
                            {"filename": "a.pdf", "content": PDF, "contentType": "application/pdf"}
                        ],
                    },
                )
                assert resp.status_code == 202, resp.text
                c.ids.append(resp.json()["messageId"])
            resp = await client.post(
                "/v1/messages",
                headers=c.auth("other"),
                json={
                    "to": ["z@example.org"],
                    "from": "x@other.example.com",
                    "subject": "Theirs",
                    "htmlBody": "<p>x</p>",
                },
            )
            c.ids.append(resp.json()["messageId"])

            async def all_kept() -> bool:
                mine = await c.outbox()
                theirs = await c.outbox("other")
                return len(mine["data"]) == 3 and len(theirs["data"]) == 1

            await wait_until(all_kept, timeout=30)
            yield c
    finally:
        await rt.stop()


async def test_lists_the_tenants_kept_messages_newest_first(ctx: Ctx) -> None:
    page = await ctx.outbox()
    assert [m["messageId"] for m in page["data"]] == list(reversed(ctx.ids[:3]))
    assert page["data"][0]["subject"] == "Invoice 8"
    assert page["data"][0]["to"] == ["ada@example.org"]
    assert page["nextCursor"] is None


async def test_filters_by_recipient_subject_and_since(ctx: Ctx) -> None:
    assert len((await ctx.outbox(to="ADA@example.org"))["data"]) == 2
    assert [m["subject"] for m in (await ctx.outbox(subject="invoice"))["data"]] == [
        "Invoice 8",
        "Invoice 7",
    ]
    assert (await ctx.outbox(since="2999-01-01T00:00:00Z"))["data"] == []
    assert len((await ctx.outbox(since="2000-01-01T00:00:00Z"))["data"]) == 3


async def test_pages_with_a_cursor(ctx: Ctx) -> None:
    first = await ctx.outbox(limit=2)
    assert len(first["data"]) == 2 and first["nextCursor"]
    second = await ctx.outbox(limit=2, cursor=first["nextCursor"])
    assert [m["messageId"] for m in second["data"]] == [ctx.ids[0]]


async def test_bad_since_is_422_naming_it(ctx: Ctx) -> None:
    resp = await ctx.client.get("/v1/outbox?since=yesterday", headers=ctx.auth("acme"))
    assert_problem(resp, 422, "since")


async def test_one_message_has_headers_html_text_and_attachments(ctx: Ctx) -> None:
    resp = await ctx.client.get(f"/v1/outbox/{ctx.ids[0]}", headers=ctx.auth("acme-read"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    headers = {h["name"]: h["value"] for h in body["headers"]}
    assert headers["Subject"] == "Welcome Ada"
    assert headers["X-IEP-Message-Id"] == ctx.ids[0]
    assert "<p>Hello 0</p>" in body["html"]
    assert body["text"].strip() == "Hello 0"
    assert body["attachments"] == [
        {"filename": "a.pdf", "contentType": "application/pdf", "sizeBytes": 13}
    ]


async def test_raw_is_the_message_as_sent(ctx: Ctx) -> None:
    resp = await ctx.client.get(f"/v1/outbox/{ctx.ids[1]}/raw", headers=ctx.auth("acme"))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("message/rfc822")
    assert f"X-IEP-Message-Id: {ctx.ids[1]}".encode() in resp.content
    assert b"Subject: Invoice 7" in resp.content


@pytest.mark.parametrize("suffix", ["", "/raw"])
async def test_other_tenants_message_is_404(ctx: Ctx, suffix: str) -> None:
    resp = await ctx.client.get(f"/v1/outbox/{ctx.ids[3]}{suffix}", headers=ctx.auth("acme"))
    assert_problem(resp, 404)


async def test_delete_needs_admin_and_empties_only_this_tenant(ctx: Ctx) -> None:
    resp = await ctx.client.delete("/v1/outbox", headers=ctx.auth("acme-read"))
    assert_problem(resp, 403)
    resp = await ctx.client.delete("/v1/outbox", headers=ctx.auth("acme"))
    assert resp.status_code == 200
    assert resp.json() == {"deleted": 3}
    assert (await ctx.outbox())["data"] == []
    assert len((await ctx.outbox("other"))["data"]) == 1
    # The messages stay; only their outbox copies went.
    resp = await ctx.client.get(f"/v1/messages/{ctx.ids[0]}", headers=ctx.auth("acme"))
    assert resp.status_code == 200
