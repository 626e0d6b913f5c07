"""The webhooks card: an endpoint created in the page (secret shown once) receives the
tenant's events on a real HTTP receiver; its delivery log lists them and re-sends one with the
same `webhook-id`; disable, enable and delete; a URL the SSRF rules refuse is a field error."""

import re

from iep_appliance.domain.webhooks import WebhookDelivery
from tests.integration.admin.conftest import Operator
from tests.integration.tenant.conftest import Appliance, message
from tests.support.waiting import wait_until
from tests.support.webhook_sink import WebhookSink

SECRET = re.compile(r'<output id="new-secret"><code>(whsec_[^<]+)</code></output>')


async def test_a_webhook_created_in_the_page_is_called_and_its_delivery_re_sent(
    appliance: Appliance, admin: Operator, webhook_sink: WebhookSink
) -> None:
    acme = await appliance.tenant("acme")
    base = f"/admin/tenants/{acme.tenant_id}/webhooks"
    await admin.page(f"/admin/tenants/{acme.tenant_id}")

    created = await admin.post(base, {"url": webhook_sink.url("/hook"), "events": ["message.sent"]})

    assert created.status_code == 201
    secret = SECRET.search(created.text)
    assert secret, created.text[:3000]
    endpoint = (await appliance.rt.services.webhooks.list_endpoints(acme.tenant_id))[0][0]
    assert endpoint.secret.startswith("sealed:")  # stored sealed; the page showed it once
    opened = appliance.rt.services.webhooks.secrets.reveal(endpoint)
    assert opened is not None and opened.secret == secret.group(1)
    assert secret.group(1) not in (await admin.page(f"/admin/tenants/{acme.tenant_id}")).text
    sent = await appliance.client.post("/v1/messages", json=message(), headers=acme.auth)
    assert sent.status_code == 202, sent.text

    async def logged() -> WebhookDelivery | None:
        found, _next = await appliance.rt.services.webhooks.deliveries(acme.tenant_id, endpoint.id)
        return found[0] if found and found[0].status == "delivered" else None

    delivery = await wait_until(logged, timeout=15, message="the delivery logged")
    log = await admin.page(f"{base}/{endpoint.id}")
    assert log.status_code == 200 and "message.sent" in log.text and "delivered" in log.text
    resent = await admin.post(f"{base}/{endpoint.id}/deliveries/{delivery.id}/resend", htmx=True)

    assert resent.status_code == 200 and "queued again" in resent.text
    await wait_until(lambda: len(webhook_sink.requests) == 2 or None, timeout=15)
    first, second = webhook_sink.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]


async def test_a_webhook_is_disabled_enabled_and_deleted(
    appliance: Appliance, admin: Operator, webhook_sink: WebhookSink
) -> None:
    acme = await appliance.tenant("acme")
    base = f"/admin/tenants/{acme.tenant_id}/webhooks"
    await admin.page(f"/admin/tenants/{acme.tenant_id}")
    await admin.post(base, {"url": webhook_sink.url("/hook"), "events": ["message.sent"]})
    endpoint = (await appliance.rt.services.webhooks.list_endpoints(acme.tenant_id))[0][0]

    disabled = await admin.post(f"{base}/{endpoint.id}/disable", htmx=True)
    assert "disabled" in disabled.text
    assert not (await appliance.rt.services.webhooks.get(acme.tenant_id, endpoint.id)).active
    await admin.post(f"{base}/{endpoint.id}/enable")
    assert (await appliance.rt.services.webhooks.get(acme.tenant_id, endpoint.id)).active
    deleted = await admin.post(f"{base}/{endpoint.id}/delete")

    assert deleted.status_code == 303
    assert (await appliance.rt.services.webhooks.list_endpoints(acme.tenant_id))[0] == []


async def test_a_refused_webhook_url_is_shown_on_the_form(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    await admin.page(f"/admin/tenants/{acme.tenant_id}")

    resp = await admin.post(
        f"/admin/tenants/{acme.tenant_id}/webhooks", {"url": "ftp://example.com/x"}
    )

    assert resp.status_code == 422
    assert 'class="field-error"' in resp.text and "url" in resp.text
    assert (await appliance.rt.services.webhooks.list_endpoints(acme.tenant_id))[0] == []
