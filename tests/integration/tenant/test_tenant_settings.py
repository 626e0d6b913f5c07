"""GET/PATCH /v1/tenant: the DESIGN §4.1 shape, merged partial updates that take effect at
once, and 422s that name the field."""

from typing import Any

import pytest

from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.problems import assert_problem
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until

SHAPE = {
    "id", "slug", "name", "active", "sandbox", "rateLimits", "attachments", "routing",
    "unsubscribe", "tracking", "strictVariables",  # the last two: content defaults
}  # fmt: skip


async def patch(appliance: Appliance, who: TenantKey, body: Any) -> Any:
    return await appliance.client.patch("/v1/tenant", json=body, headers=who.auth)


async def test_get_answers_the_documented_shape_with_defaults(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    body = (await appliance.client.get("/v1/tenant", headers=acme.auth)).json()

    assert set(body) == SHAPE
    assert body["id"] == acme.tenant_id and body["slug"] == "acme" and body["active"] is True
    assert body["sandbox"] is False
    assert body["unsubscribe"] is False
    assert body["rateLimits"] == {"maxPerMinute": None, "maxPerHour": None, "maxPerDay": None}
    assert body["routing"] == {"primaryProvider": None, "fallbackProvider": None}
    assert body["attachments"]["maxFileBytes"] == 10485760
    assert body["attachments"]["maxTotalBytes"] == 26214400
    assert body["attachments"]["maxCount"] == 10
    assert "application/pdf" in body["attachments"]["allowedTypes"]


async def test_patch_merges_a_subset_and_keeps_the_rest(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    await patch(appliance, acme, {"rateLimits": {"maxPerHour": 100}})

    resp = await patch(appliance, acme, {"name": "Acme Inc", "rateLimits": {"maxPerMinute": 10}})

    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["name"] == "Acme Inc"
    assert body["rateLimits"] == {"maxPerMinute": 10, "maxPerHour": 100, "maxPerDay": None}
    again = (await appliance.client.get("/v1/tenant", headers=acme.auth)).json()
    assert again == body
    cleared = (await patch(appliance, acme, {"rateLimits": {"maxPerHour": None}})).json()
    assert cleared["rateLimits"]["maxPerHour"] is None


async def test_a_get_body_can_be_patched_back_unchanged(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    body = (await appliance.client.get("/v1/tenant", headers=acme.auth)).json()

    resp = await patch(appliance, acme, body)

    assert resp.status_code == 200
    assert resp.json() == body


async def test_attachment_limits_apply_to_the_next_send(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    attachment = {"filename": "a.txt", "content": "aGVsbG8=", "contentType": "text/plain"}
    assert (
        await appliance.client.post(
            "/v1/messages", json=message(attachments=[attachment]), headers=acme.auth
        )
    ).status_code == 202

    await patch(appliance, acme, {"attachments": {"allowedTypes": ["application/pdf"]}})

    resp = await appliance.client.post(
        "/v1/messages", json=message(attachments=[attachment]), headers=acme.auth
    )
    assert_problem(resp, 422, "attachments[0].contentType")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rateLimits": {"maxPerMinute": -1}}, "rateLimits.maxPerMinute"),
        ({"rateLimits": {"maxPerMinute": "ten"}}, "rateLimits.maxPerMinute"),
        ({"rateLimits": {"maxPerMinute": True}}, "rateLimits.maxPerMinute"),
        ({"rateLimits": {"maxPerSecond": 1}}, "rateLimits.maxPerSecond"),
        ({"rateLimits": 5}, "rateLimits"),
        ({"routing": {"primaryProvider": "nope"}}, "routing.primaryProvider"),
        ({"routing": {"fallbackProvider": 7}}, "routing.fallbackProvider"),
        ({"attachments": {"maxCount": -1}}, "attachments.maxCount"),
        ({"attachments": {"maxFileBytes": 0}}, "attachments.maxFileBytes"),
        ({"attachments": {"allowedTypes": ["pdf"]}}, "attachments.allowedTypes[0]"),
        (
            {"attachments": {"maxFileBytes": 100, "maxTotalBytes": 10}},
            "attachments.maxTotalBytes",
        ),
        ({"sandbox": "yes"}, "sandbox"),
        ({"name": ""}, "name"),
        ({"slug": "other"}, "slug"),
        ({"id": "other"}, "id"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_bad_patch_names_the_field_and_changes_nothing(
    appliance: Appliance, body: dict[str, Any], field: str
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    before = (await appliance.client.get("/v1/tenant", headers=acme.auth)).json()

    resp = await patch(appliance, acme, {**body, "name": body.get("name", "Renamed")})

    assert_problem(resp, 422, field)
    assert (await appliance.client.get("/v1/tenant", headers=acme.auth)).json() == before


async def test_patch_body_must_be_an_object(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    resp = await patch(appliance, acme, [1, 2])

    assert resp.status_code in (400, 422)
    assert_problem(resp, resp.status_code)


async def test_routing_accepts_configured_providers(appliance: Appliance) -> None:
    appliance.configure(
        providers={"outbox": {"type": "outbox"}, "relay": {"type": "smtp", "port": 2525}}
    )
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    resp = await patch(
        appliance, acme, {"routing": {"primaryProvider": "relay", "fallbackProvider": "outbox"}}
    )

    assert resp.status_code == 200, resp.text
    assert resp.json()["routing"] == {"primaryProvider": "relay", "fallbackProvider": "outbox"}


async def test_each_tenant_sees_and_changes_only_itself(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme, globex = await appliance.tenant("acme"), await appliance.tenant("globex")

    await patch(appliance, acme, {"sandbox": True})

    theirs = (await appliance.client.get("/v1/tenant", headers=globex.auth)).json()
    assert theirs["id"] == globex.tenant_id
    assert theirs["sandbox"] is False


async def test_routing_change_applies_to_the_next_delivery(
    appliance: Appliance, smtp_sink: SmtpSink
) -> None:
    appliance.configure(
        providers={
            "outbox": {"type": "outbox"},
            "relay": {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port},
        },
        routing={"default_provider": "relay"},
    )
    await appliance.start()
    acme = await appliance.tenant("acme")
    await appliance.client.post("/v1/messages", json=message(), headers=acme.auth)
    await wait_until(lambda: len(smtp_sink.received) == 1, timeout=15)

    await patch(appliance, acme, {"routing": {"primaryProvider": "outbox"}})
    resp = await appliance.client.post("/v1/messages", json=message(), headers=acme.auth)
    message_id = resp.json()["messageId"]

    async def provider() -> str | None:
        detail = await appliance.client.get(f"/v1/messages/{message_id}", headers=acme.auth)
        return detail.json()["provider"] if detail.json()["status"] == "sent" else None

    assert await wait_until(provider, timeout=15) == "outbox"
    assert len(smtp_sink.received) == 1


async def test_openapi_schema_documents_the_tenant_endpoints(appliance: Appliance) -> None:
    await appliance.start(deliver=False)

    paths = (await appliance.client.get("/schema/openapi.json")).json()["paths"]

    for path in (
        "/v1/tenant",
        "/v1/api-keys",
        "/v1/api-keys/{key_id}",
        "/v1/api-keys/{key_id}/rotate",
        "/v1/domains",
        "/v1/domains/{domain}",
        "/v1/suppressions",
        "/v1/suppressions/{email}",
    ):
        assert path in paths
