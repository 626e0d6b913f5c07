"""The suppression list over the API: add, list (search, cursor), remove; case-insensitive;
tenant-scoped; automatic entries from the third hard bounce show reason and source message."""

from typing import Any
from urllib.parse import quote

from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.problems import assert_problem
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until


async def suppress(appliance: Appliance, who: TenantKey, *emails: str, **extra: Any) -> Any:
    body = {"emails": list(emails), "reason": "manual", **extra}
    return await appliance.client.post("/v1/suppressions", json=body, headers=who.auth)


async def listed(appliance: Appliance, who: TenantKey, **params: Any) -> Any:
    return await appliance.client.get("/v1/suppressions", params=params, headers=who.auth)


async def test_added_addresses_are_listed_lower_cased_with_their_reason(
    appliance: Appliance,
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    resp = await suppress(appliance, acme, "Bob@Example.ORG", "carol@example.org")

    assert resp.status_code == 201, resp.text
    assert [item["email"] for item in resp.json()["data"]] == [
        "bob@example.org",
        "carol@example.org",
    ]
    page = (await listed(appliance, acme)).json()
    assert page["nextCursor"] is None
    assert page["data"][0] == {
        "email": "bob@example.org",
        "reason": "manual",
        "sourceMessageId": None,
        "createdAt": "2026-01-01T00:00:00.000Z",
    }


async def test_a_suppressed_address_is_skipped_whatever_its_case(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    await suppress(appliance, acme, "ADA@example.org")

    resp = await appliance.client.post(
        "/v1/messages",
        json=message(to=["Ada@Example.org", "bob@example.org"]),
        headers=acme.auth,
    )

    assert resp.status_code == 202
    assert resp.json()["suppressedRecipients"] == ["Ada@example.org"]


async def test_search_matches_a_substring_case_insensitively(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    await suppress(
        appliance, acme, "ann@alpha.example.org", "bea@beta.example.org", "cid@alpha.example.org"
    )

    found = (await listed(appliance, acme, search="ALPHA")).json()["data"]
    underscore = (await listed(appliance, acme, search="_")).json()["data"]

    assert [item["email"] for item in found] == ["ann@alpha.example.org", "cid@alpha.example.org"]
    assert underscore == []  # LIKE wildcards are matched literally


async def test_cursor_pages_through_the_whole_list(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    emails = [f"user{i:02d}@example.org" for i in range(7)]
    await suppress(appliance, acme, *reversed(emails))

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await listed(appliance, acme, **params)).json()
        seen += [item["email"] for item in page["data"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break

    assert seen == emails


async def test_delete_takes_an_url_encoded_address_in_any_case(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    await suppress(appliance, acme, "dan+news@example.org")

    resp = await appliance.client.delete(
        f"/v1/suppressions/{quote('Dan+News@EXAMPLE.org', safe='')}", headers=acme.auth
    )

    assert resp.status_code == 204
    assert (await listed(appliance, acme)).json()["data"] == []
    again = await appliance.client.delete(
        f"/v1/suppressions/{quote('dan+news@example.org', safe='')}", headers=acme.auth
    )
    assert_problem(again, 404)


async def test_invalid_addresses_are_named_and_nothing_is_written(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    resp = await suppress(appliance, acme, "ok@example.org", "not-an-address", "a@b@c")

    assert_problem(resp, 422, "emails[1]", "emails[2]")
    assert (await listed(appliance, acme)).json()["data"] == []
    assert_problem(await suppress(appliance, acme), 422, "emails")
    assert_problem(await suppress(appliance, acme, "x@example.org", reason="spite"), 422, "reason")
    assert_problem(await listed(appliance, acme, cursor="garbage!"), 422, "cursor")
    assert_problem(await listed(appliance, acme, limit=0), 422, "limit")


async def test_suppressions_are_tenant_scoped(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme, globex = await appliance.tenant("acme"), await appliance.tenant("globex")
    await suppress(appliance, globex, "eve@example.org")

    assert (await listed(appliance, acme)).json()["data"] == []
    resp = await appliance.client.delete(
        f"/v1/suppressions/{quote('eve@example.org')}", headers=acme.auth
    )
    assert_problem(resp, 404)
    assert len((await listed(appliance, globex)).json()["data"]) == 1


async def test_a_send_key_cannot_read_or_change_suppressions(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    sender = await appliance.key(acme, ("send", "read"))

    assert_problem(await listed(appliance, sender), 403)
    assert_problem(await suppress(appliance, sender, "x@example.org"), 403)
    assert_problem(
        await appliance.client.delete("/v1/suppressions/x%40example.org", headers=sender.auth),
        403,
    )


async def test_third_hard_bounce_appears_with_reason_and_source_message(
    appliance: Appliance, smtp_sink: SmtpSink
) -> None:
    smtp_sink.set_rcpt_rule(
        lambda address, attempt: (
            "550 5.1.1 no such user" if address.lower().startswith("gone@") else None
        )
    )
    appliance.configure(
        providers={
            "relay": {"type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port},
        },
        routing={"default_provider": "relay"},
    )
    await appliance.start()
    acme = await appliance.tenant("acme")
    ids = []
    for _ in range(3):
        resp = await appliance.client.post(
            "/v1/messages", json=message(to=["Gone@example.org"]), headers=acme.auth
        )
        ids.append(resp.json()["messageId"])

    async def listed_once() -> list[dict[str, Any]]:
        return (await listed(appliance, acme)).json()["data"]

    entries = await wait_until(listed_once, timeout=15, message="auto suppression")

    assert len(entries) == 1
    assert entries[0]["email"] == "gone@example.org"
    assert entries[0]["reason"] == "hard_bounce"
    assert entries[0]["sourceMessageId"] in ids
