"""Every action of the Tenants and users pages is refused to a viewer (403, nothing changes)
and to a post without the session's CSRF token (403); the pages themselves are readable."""

import pytest

from tests.integration.admin.conftest import Operator
from tests.integration.tenant.conftest import Appliance

# Every POST of part B of the dashboard; {t} is the tenant, the other ids need not exist:
# the guard refuses before the handler runs.
ACTIONS = (
    "/admin/tenants/{t}/settings",
    "/admin/tenants/{t}/deactivate",
    "/admin/tenants/{t}/activate",
    "/admin/tenants/{t}/domains",
    "/admin/tenants/{t}/domains/remove",
    "/admin/tenants/{t}/keys",
    "/admin/tenants/{t}/keys/k1/rotate",
    "/admin/tenants/{t}/keys/k1/revoke",
    "/admin/tenants/{t}/webhooks",
    "/admin/tenants/{t}/webhooks/w1/disable",
    "/admin/tenants/{t}/webhooks/w1/enable",
    "/admin/tenants/{t}/webhooks/w1/delete",
    "/admin/tenants/{t}/webhooks/w1/deliveries/d1/resend",
    "/admin/tenants/{t}/suppressions",
    "/admin/tenants/{t}/suppressions/remove",
    "/admin/tenants/{t}/suppressions/import",
    "/admin/tenants/{t}/queues/q1/pause",
    "/admin/tenants/{t}/queues/q1/resume",
    "/admin/tenants/{t}/queues/q1/drain",
    "/admin/tenants/{t}/jobs/j1/pause",
    "/admin/tenants/{t}/jobs/j1/resume",
    "/admin/tenants/{t}/jobs/j1/delete",
    "/admin/users",
    "/admin/users/u1/role",
    "/admin/users/u1/delete",
)
PAGES = (
    "/admin/tenants/{t}",
    "/admin/tenants/{t}/suppressions",
    "/admin/tenants/{t}/suppressions.csv",
    "/admin/users",
)


async def test_a_viewer_reads_every_page_without_action_forms(
    appliance: Appliance, viewer: Operator
) -> None:
    acme = await appliance.tenant("acme")
    for path in PAGES:
        resp = await viewer.page(path.format(t=acme.tenant_id))
        assert resp.status_code == 200, path
    page = await viewer.page(f"/admin/tenants/{acme.tenant_id}")
    assert "/revoke" not in page.text and "Create key" not in page.text


async def test_a_viewer_is_refused_every_action(appliance: Appliance, viewer: Operator) -> None:
    acme = await appliance.tenant("acme")
    await viewer.page("/admin/tenants")
    data = {"name": "x", "domain": "viewer.example", "email": "v@example.org", "role": "admin"}
    for path in ACTIONS:
        resp = await viewer.post(path.format(t=acme.tenant_id), data)
        assert resp.status_code == 403, path
        assert "needs the admin role" in resp.text
    tenant = await appliance.rt.services.store.get_tenant(acme.tenant_id)
    assert tenant is not None and tenant.active and tenant.name == "Acme"
    assert await appliance.rt.services.store.allowed_domains(acme.tenant_id) == {"example.com"}


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_an_action_without_the_csrf_token_is_refused(
    appliance: Appliance, admin: Operator, token: str | None
) -> None:
    acme = await appliance.tenant("acme")
    data = {"csrf_token": token} if token else {}
    for path in ACTIONS:
        resp = await admin.post(path.format(t=acme.tenant_id), data, csrf=False)
        assert resp.status_code == 403, path
    tenant = await appliance.rt.services.store.get_tenant(acme.tenant_id)
    assert tenant is not None and tenant.active


async def test_garbage_in_any_form_is_a_4xx_page_never_a_500(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    key = (await appliance.rt.services.keys.list_keys(acme.tenant_id))[0]
    await admin.page(f"/admin/tenants/{acme.tenant_id}")
    junk = {
        "name": "x" * 500 + "\r\n",
        "scopes": ["send", "bogus"],
        "expiresAt": "yesterday",
        "graceSeconds": "-1",
        "domain": "..",
        "url": "",
        "events": "nothing",
        "emails": "@@",
        "email": "",
        "reason": "because",
        "role": "root",
        "password": "",
        "rateLimits.maxPerMinute": "1e99",
        "attachments.maxFileBytes": "-5",
        "attachments.maxTotalBytes": "99999999999999999999999",
        "attachments.maxCount": "",
        "attachments.allowedTypes": "not a type",
        "routing.primaryProvider": "<script>",
    }
    for path in (*ACTIONS, f"/admin/tenants/{{t}}/keys/{key.id}/rotate"):
        resp = await admin.post(path.format(t=acme.tenant_id), junk)
        assert 300 <= resp.status_code < 500, (path, resp.status_code, resp.text[:500])
        assert "<script>" not in resp.text.replace('<script src="/admin/static/', "")
