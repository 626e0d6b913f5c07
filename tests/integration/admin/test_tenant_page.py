"""A tenant's page (/admin/tenants/{id}): settings through PATCH /v1/tenant's validation,
deactivation, sender domains, API keys that work on /v1 at once and stop at once, and HTML in
a tenant's name shown escaped. Every action is also refused to a viewer and without CSRF."""

import re

import pytest

from tests.integration.admin.conftest import Operator
from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.problems import assert_problem

KEY = re.compile(r'<output id="new-key"><code>([^<]+)</code></output>')


def shown_key(html: str) -> str:
    found = KEY.search(html)
    assert found, html[:3000]
    return found.group(1)


@pytest.fixture
async def acme(appliance: Appliance) -> TenantKey:
    return await appliance.tenant("acme")


async def test_the_page_shows_every_section(admin: Operator, acme: TenantKey) -> None:
    resp = await admin.page(f"/admin/tenants/{acme.tenant_id}")

    assert resp.status_code == 200
    for section in ("settings", "domains", "keys", "webhooks", "suppressions", "queues", "jobs"):
        assert f'id="t-{section}"' in resp.text
    assert "acme-key" in resp.text  # the key's name, never its secret
    assert acme.key not in resp.text


async def test_the_tenants_list_links_to_each_page_and_to_the_users(
    admin: Operator, acme: TenantKey
) -> None:
    resp = await admin.page("/admin/tenants")

    assert f'href="/admin/tenants/{acme.tenant_id}"' in resp.text
    assert 'href="/admin/users"' in resp.text


async def test_an_unknown_tenant_is_a_404_page(admin: Operator) -> None:
    resp = await admin.page("/admin/tenants/nope")

    assert resp.status_code == 404


async def test_a_key_created_in_the_page_is_shown_once_and_works_on_the_api(
    appliance: Appliance, admin: Operator, acme: TenantKey
) -> None:
    await admin.page(f"/admin/tenants/{acme.tenant_id}")

    resp = await admin.post(
        f"/admin/tenants/{acme.tenant_id}/keys", {"name": "ci", "scopes": ["send", "read"]}
    )

    assert resp.status_code == 201
    key = shown_key(resp.text)
    sent = await appliance.client.post("/v1/messages", json=message(), headers={"x-api-key": key})
    assert sent.status_code == 202, sent.text
    again = await admin.page(f"/admin/tenants/{acme.tenant_id}")
    assert key not in again.text and ">ci<" in again.text


async def test_a_key_revoked_in_the_page_is_refused_by_the_api_at_once(
    appliance: Appliance, admin: Operator, acme: TenantKey
) -> None:
    assert (await appliance.client.get("/v1/messages", headers=acme.auth)).status_code == 200
    record = (await appliance.rt.services.keys.list_keys(acme.tenant_id))[0]
    await admin.page(f"/admin/tenants/{acme.tenant_id}")

    resp = await admin.post(f"/admin/tenants/{acme.tenant_id}/keys/{record.id}/revoke")

    assert resp.status_code == 303
    after = await appliance.client.get("/v1/messages", headers=acme.auth)
    assert after.status_code == 401


async def test_rotating_a_key_shows_the_new_one_and_keeps_the_old_for_the_grace(
    appliance: Appliance, admin: Operator, acme: TenantKey
) -> None:
    record = (await appliance.rt.services.keys.list_keys(acme.tenant_id))[0]
    await admin.page(f"/admin/tenants/{acme.tenant_id}")

    resp = await admin.post(
        f"/admin/tenants/{acme.tenant_id}/keys/{record.id}/rotate", {"graceSeconds": "60"}
    )

    assert resp.status_code == 201
    new = shown_key(resp.text)
    assert (
        await appliance.client.get("/v1/messages", headers={"x-api-key": new})
    ).status_code == 200
    assert (await appliance.client.get("/v1/messages", headers=acme.auth)).status_code == 200
    appliance.clock.advance(61)  # type: ignore[attr-defined]
    assert (await appliance.client.get("/v1/messages", headers=acme.auth)).status_code == 401


async def test_htmx_gets_only_the_keys_section_with_the_new_key(
    admin: Operator, acme: TenantKey
) -> None:
    await admin.page(f"/admin/tenants/{acme.tenant_id}")

    resp = await admin.post(
        f"/admin/tenants/{acme.tenant_id}/keys", {"name": "htmx", "scopes": "send"}, htmx=True
    )

    assert resp.status_code == 200
    assert resp.text.lstrip().startswith('<section class="card" id="t-keys">')
    assert "<html" not in resp.text
    shown_key(resp.text)


async def test_a_bad_key_scope_is_shown_on_the_form(admin: Operator, acme: TenantKey) -> None:
    await admin.page(f"/admin/tenants/{acme.tenant_id}")

    resp = await admin.post(f"/admin/tenants/{acme.tenant_id}/keys", {"scopes": "root"})

    assert resp.status_code == 422
    assert 'class="field-error"' in resp.text and "scopes" in resp.text
    assert 'id="new-key"' not in resp.text


async def test_settings_are_saved_through_the_api_rules(
    appliance: Appliance, admin: Operator, acme: TenantKey
) -> None:
    await admin.page(f"/admin/tenants/{acme.tenant_id}")
    form = {
        "name": "Acme Corp",
        "sandbox": "on",
        "rateLimits.maxPerMinute": "60",
        "rateLimits.maxPerHour": "",
        "rateLimits.maxPerDay": "1000",
        "attachments.maxFileBytes": "1000",
        "attachments.maxTotalBytes": "5000",
        "attachments.maxCount": "3",
        "attachments.allowedTypes": "application/pdf, text/plain",
        "routing.primaryProvider": "outbox",
        "routing.fallbackProvider": "",
    }

    resp = await admin.post(f"/admin/tenants/{acme.tenant_id}/settings", form)

    assert resp.status_code == 303
    got = (await appliance.client.get("/v1/tenant", headers=acme.auth)).json()
    assert got["name"] == "Acme Corp" and got["sandbox"] is True
    assert got["rateLimits"] == {"maxPerMinute": 60, "maxPerHour": None, "maxPerDay": 1000}
    assert got["attachments"] == {
        "maxFileBytes": 1000,
        "maxTotalBytes": 5000,
        "maxCount": 3,
        "allowedTypes": ["application/pdf", "text/plain"],
    }
    assert got["routing"] == {"primaryProvider": "outbox", "fallbackProvider": None}


async def test_bad_settings_name_the_field_and_write_nothing(
    appliance: Appliance, admin: Operator, acme: TenantKey
) -> None:
    before = await appliance.rt.services.store.get_tenant(acme.tenant_id)
    await admin.page(f"/admin/tenants/{acme.tenant_id}")
    form = {
        "name": "Renamed",
        "rateLimits.maxPerMinute": "lots",
        "attachments.maxFileBytes": "10",
        "attachments.maxTotalBytes": "100",
        "attachments.maxCount": "1",
        "attachments.allowedTypes": "application/pdf",
        "routing.primaryProvider": "nowhere",
    }

    resp = await admin.post(f"/admin/tenants/{acme.tenant_id}/settings", form)

    assert resp.status_code == 422
    assert "rateLimits.maxPerMinute" in resp.text and "routing.primaryProvider" in resp.text
    assert resp.text.count('class="field-error"') >= 2
    assert 'value="lots"' in resp.text  # the form keeps what was typed
    assert await appliance.rt.services.store.get_tenant(acme.tenant_id) == before


async def test_a_deactivated_tenants_keys_are_refused_until_reactivated(
    appliance: Appliance, admin: Operator, acme: TenantKey
) -> None:
    assert (await appliance.client.get("/v1/messages", headers=acme.auth)).status_code == 200
    await admin.page(f"/admin/tenants/{acme.tenant_id}")

    resp = await admin.post(f"/admin/tenants/{acme.tenant_id}/deactivate")

    assert resp.status_code == 303
    refused = await appliance.client.get("/v1/messages", headers=acme.auth)
    assert refused.status_code == 403 and "deactivated" in refused.json()["detail"]
    assert (await appliance.client.get("/v1/tenant", headers=acme.auth)).status_code == 403
    page = await admin.page(f"/admin/tenants/{acme.tenant_id}")
    assert "deactivated" in page.text

    await admin.post(f"/admin/tenants/{acme.tenant_id}/activate")

    sent = await appliance.client.post("/v1/messages", json=message(), headers=acme.auth)
    assert sent.status_code == 202


async def test_a_deactivated_tenants_key_is_told_the_tenant_is_deactivated_not_missing_scope(
    appliance: Appliance, admin: Operator, acme: TenantKey
) -> None:
    await admin.page(f"/admin/tenants/{acme.tenant_id}")
    await admin.post(f"/admin/tenants/{acme.tenant_id}/deactivate")

    listed = await appliance.client.get("/v1/messages", headers=acme.auth)
    sent = await appliance.client.post("/v1/messages", json=message(), headers=acme.auth)

    for resp in (listed, sent):  # the Litestar handler and the fast send path alike
        body = assert_problem(resp, 403)
        assert body["title"] == "Tenant deactivated", body
        assert body["type"].endswith("/tenant-deactivated"), body


async def test_sender_domains_are_added_and_removed(
    appliance: Appliance, admin: Operator, acme: TenantKey
) -> None:
    base = f"/admin/tenants/{acme.tenant_id}/domains"
    await admin.page(f"/admin/tenants/{acme.tenant_id}")

    added = await admin.post(base, {"domain": "Mail.Acme.io"}, htmx=True)
    bad = await admin.post(base, {"domain": "not a domain"})
    removed = await admin.post(f"{base}/remove", {"domain": "example.com"})

    assert added.status_code == 200 and "mail.acme.io" in added.text
    assert bad.status_code == 422 and 'class="field-error"' in bad.text
    assert removed.status_code == 303
    assert await appliance.rt.services.store.allowed_domains(acme.tenant_id) == {"mail.acme.io"}


async def test_a_tenant_name_with_html_is_shown_escaped(
    appliance: Appliance, admin: Operator
) -> None:
    from iep_appliance.services.tenants import create_tenant

    tenant = await create_tenant(
        appliance.rt.services.store,
        "xss",
        "<script>alert(1)</script><img src=x onerror=alert(2)>",
        [],
    )

    for path in (f"/admin/tenants/{tenant.id}", "/admin/tenants"):
        resp = await admin.page(path)
        assert "<script>alert(1)" not in resp.text and "<img src=x" not in resp.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in resp.text
