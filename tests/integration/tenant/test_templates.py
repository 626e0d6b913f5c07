"""/v1/templates and sends by template (DESIGN §10.5), through the real app over a
real SQLite file: versions, tenant scoping, preview, strictVariables, bad templates refused
at create, and a message that keeps its copy when its template changes or goes."""

from typing import Any

import pytest

from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.problems import assert_problem

WELCOME = {
    "name": "Welcome",
    "subject": "Welcome {{name}}",
    "htmlBody": "<p>Hi {{name}}, your code is {{code}}</p>",
    "sampleVariables": {"name": "Sample", "code": "0000"},
}


@pytest.fixture
async def acme(appliance: Appliance) -> TenantKey:
    await appliance.start(deliver=False)
    return await appliance.tenant("acme")


async def create(appliance: Appliance, who: TenantKey, **body: Any) -> dict[str, Any]:
    resp = await appliance.client.post("/v1/templates", json={**WELCOME, **body}, headers=who.auth)
    assert resp.status_code == 201, resp.text
    return resp.json()


def by_template(template_id: str, version: int | None = None, **overrides: Any) -> dict:
    body = message(**overrides)
    for field in ("subject", "htmlBody"):
        body.pop(field)
    body["template"] = {"id": template_id, **({"version": version} if version else {})}
    return body


async def test_create_update_get_versions_and_list(appliance: Appliance, acme: TenantKey) -> None:
    made = await create(appliance, acme)
    assert made["version"] == 1 and made["name"] == "Welcome" and made["id"]
    put = await appliance.client.put(
        f"/v1/templates/{made['id']}",
        json={**WELCOME, "subject": "Hello again {{name}}"},
        headers=acme.auth,
    )
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 2
    latest = (await appliance.client.get(f"/v1/templates/{made['id']}", headers=acme.auth)).json()
    assert latest["subject"] == "Hello again {{name}}" and latest["variables"] == ["code", "name"]
    v1 = await appliance.client.get(f"/v1/templates/{made['id']}/versions/1", headers=acme.auth)
    assert v1.status_code == 200 and v1.json()["subject"] == "Welcome {{name}}"
    versions = await appliance.client.get(f"/v1/templates/{made['id']}/versions", headers=acme.auth)
    assert [v["version"] for v in versions.json()["data"]] == [2, 1]
    listed = (await appliance.client.get("/v1/templates", headers=acme.auth)).json()
    assert [(t["id"], t["version"]) for t in listed["data"]] == [(made["id"], 2)]
    assert listed["nextCursor"] is None
    missing = await appliance.client.get(
        f"/v1/templates/{made['id']}/versions/3", headers=acme.auth
    )
    assert_problem(missing, 404)


async def test_another_tenants_template_is_404_everywhere(
    appliance: Appliance, acme: TenantKey
) -> None:
    made = await create(appliance, acme)
    other = await appliance.tenant("other")
    path = f"/v1/templates/{made['id']}"
    c = appliance.client
    assert_problem(await c.get(path, headers=other.auth), 404)
    assert_problem(await c.get(f"{path}/versions/1", headers=other.auth), 404)
    assert_problem(await c.put(path, json=WELCOME, headers=other.auth), 404)
    assert_problem(await c.post(f"{path}/preview", json={}, headers=other.auth), 404)
    assert_problem(await c.delete(path, headers=other.auth), 404)
    sent = await c.post("/v1/messages", json=by_template(made["id"]), headers=other.auth)
    assert_problem(sent, 422, "template.id")
    assert (await c.get(path, headers=acme.auth)).json()["version"] == 1


async def test_preview_renders_with_the_variables_given_or_the_samples(
    appliance: Appliance, acme: TenantKey
) -> None:
    made = await create(appliance, acme)
    path = f"/v1/templates/{made['id']}/preview"
    given = await appliance.client.post(
        path, json={"variables": {"name": "<Ada>", "code": "42"}}, headers=acme.auth
    )
    assert given.status_code == 200, given.text
    assert given.json()["subject"] == "Welcome <Ada>"
    assert given.json()["html"] == "<p>Hi &lt;Ada&gt;, your code is 42</p>"
    samples = await appliance.client.post(path, json={}, headers=acme.auth)
    assert samples.json()["text"].strip() == "Hi Sample, your code is 0000"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"htmlBody": "<p>{{#if x}}open</p>"}, "htmlBody"),
        ({"subject": "Hi {{"}, "subject"),
        ({"textBody": "{{/each}}"}, "textBody"),
        ({"name": ""}, "name"),
        ({"subject": "a\r\nBcc: x@y.z"}, "subject"),
        (
            {
                "htmlBody": "{{#each r}}{{#each ../r}}{{#each ../../r}}{{a}}{{/each}}{{/each}}"
                "{{/each}}",
                "sampleVariables": {"r": [{"a": 1}] * 60},
            },
            "htmlBody",
        ),
        ({"unknown": 1}, "unknown"),
    ],
)
async def test_a_bad_template_is_422_naming_the_field_and_nothing_is_stored(
    appliance: Appliance, acme: TenantKey, body: dict, field: str
) -> None:
    resp = await appliance.client.post("/v1/templates", json={**WELCOME, **body}, headers=acme.auth)
    assert_problem(resp, 422, field)
    assert (await appliance.client.get("/v1/templates", headers=acme.auth)).json()["data"] == []


async def test_a_send_by_template_keeps_its_copy_after_updates_and_delete(
    appliance: Appliance, acme: TenantKey
) -> None:
    made = await create(appliance, acme)
    c = appliance.client
    first = await c.post(
        "/v1/messages", json=by_template(made["id"], variables={"name": "Ada"}), headers=acme.auth
    )
    assert first.status_code == 202, first.text
    await c.put(f"/v1/templates/{made['id']}", json={**WELCOME, "subject": "v2"}, headers=acme.auth)
    pinned = await c.post(
        "/v1/messages", json=by_template(made["id"], version=1, variables={}), headers=acme.auth
    )
    latest = await c.post("/v1/messages", json=by_template(made["id"]), headers=acme.auth)
    assert (await c.delete(f"/v1/templates/{made['id']}", headers=acme.auth)).status_code == 204

    store = appliance.rt.services.store
    one = await store.get_message(acme.tenant_id, first.json()["messageId"])
    two = await store.get_message(acme.tenant_id, pinned.json()["messageId"])
    three = await store.get_message(acme.tenant_id, latest.json()["messageId"])
    assert one and two and three
    assert (one.subject, one.template_id, one.template_version) == (
        "Welcome {{name}}",
        made["id"],
        1,
    )
    assert (two.subject, two.template_version) == ("Welcome {{name}}", 1)
    assert (three.subject, three.template_version) == ("v2", 2)
    assert one.html_body == WELCOME["htmlBody"]
    gone = await c.post("/v1/messages", json=by_template(made["id"]), headers=acme.auth)
    assert_problem(gone, 422, "template.id")


async def test_a_send_by_template_and_its_own_subject_is_422(
    appliance: Appliance, acme: TenantKey
) -> None:
    made = await create(appliance, acme)
    body = {**by_template(made["id"]), "subject": "mine"}
    assert_problem(await appliance.client.post("/v1/messages", json=body, headers=acme.auth), 422,
                   "template")  # fmt: skip
    unknown_version = by_template(made["id"], version=9)
    resp = await appliance.client.post("/v1/messages", json=unknown_version, headers=acme.auth)
    assert_problem(resp, 422, "template.version")


async def test_strict_variables_names_the_missing_one_and_writes_nothing(
    appliance: Appliance, acme: TenantKey
) -> None:
    made = await create(appliance, acme)
    c = appliance.client
    strict = by_template(made["id"], variables={"name": "Ada"}, strictVariables=True)
    assert_problem(await c.post("/v1/messages", json=strict, headers=acme.auth), 422,
                   "variables.code")  # fmt: skip
    lenient = by_template(made["id"], variables={"name": "Ada"})
    assert (await c.post("/v1/messages", json=lenient, headers=acme.auth)).status_code == 202
    patched = await c.patch("/v1/tenant", json={"strictVariables": True}, headers=acme.auth)
    assert patched.status_code == 200 and patched.json()["strictVariables"] is True
    assert_problem(await c.post("/v1/messages", json=lenient, headers=acme.auth), 422,
                   "variables.code")  # fmt: skip
    inline = message(subject="Hi {{name}}", htmlBody="{{missing.value}}")
    assert_problem(await c.post("/v1/messages", json=inline, headers=acme.auth), 422,
                   "variables.missing.value")  # fmt: skip
    opt_out = {**lenient, "strictVariables": False}
    assert (await c.post("/v1/messages", json=opt_out, headers=acme.auth)).status_code == 202
    listed = (await c.get("/v1/messages", headers=acme.auth)).json()["data"]
    assert len(listed) == 2


async def test_reading_needs_read_and_writing_needs_admin(
    appliance: Appliance, acme: TenantKey
) -> None:
    made = await create(appliance, acme)
    reader = await appliance.key(acme, ("read",))
    c = appliance.client
    assert (await c.get(f"/v1/templates/{made['id']}", headers=reader.auth)).status_code == 200
    assert_problem(await c.post("/v1/templates", json=WELCOME, headers=reader.auth), 403)


async def test_the_schema_documents_templates_and_tracking(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    paths = (await appliance.client.get("/schema/openapi.json")).json()["paths"]
    for path in (
        "/v1/templates",
        "/v1/templates/{template_id}",
        "/v1/templates/{template_id}/versions/{version}",
        "/v1/templates/{template_id}/preview",
        "/v1/analytics/engagement",
        "/t/o/{token}",
        "/t/c/{token}",
    ):
        assert path in paths, path
