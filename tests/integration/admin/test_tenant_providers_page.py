"""The providers page of a tenant: add a provider (credentials never shown back),
test it (the failed step shown), delete it; a bad body is a field error and writes nothing."""

import json

from tests.integration.admin.conftest import Operator
from tests.integration.tenant.conftest import Appliance
from tests.support.fake_apis import FakeSendgrid


async def test_add_test_and_delete_a_provider(appliance: Appliance, admin: Operator) -> None:
    acme = await appliance.tenant("acme")
    base = f"/admin/tenants/{acme.tenant_id}/providers"
    page = await admin.page(f"/admin/tenants/{acme.tenant_id}")
    assert base in page.text
    assert (await admin.page(base)).status_code == 200
    with FakeSendgrid(api_key="SG.page") as api:
        form = {"name": "sg", "type": "sendgrid",
                "settings": json.dumps({"endpointUrl": api.url}),
                "credentials": json.dumps({"apiKey": "SG.wrong"})}  # fmt: skip
        created = await admin.post(base, form)
        assert created.status_code == 303, created.text
        listing = await admin.page(base)
        assert "sendgrid" in listing.text and "SG.wrong" not in listing.text
        [provider] = await appliance.rt.services.tenant_providers.list(acme.tenant_id)
        tested = await admin.post(f"{base}/{provider.id}/test")
        assert tested.status_code == 200
        assert "failed at auth" in tested.text and "401" in tested.text
    bad = await admin.post(base, {"name": "x", "type": "sendgrid", "settings": "{nope",
                                  "credentials": "{}"})  # fmt: skip
    assert bad.status_code == 422 and "not JSON" in bad.text
    missing = await admin.post(base, {"name": "y", "type": "mailgun", "settings": "{}",
                                      "credentials": "{}"})  # fmt: skip
    assert missing.status_code == 422 and "settings.domain" in missing.text
    assert len(await appliance.rt.services.tenant_providers.list(acme.tenant_id)) == 1
    await admin.page(base)
    gone = await admin.post(f"{base}/{provider.id}/delete")
    assert gone.status_code == 303
    assert await appliance.rt.services.tenant_providers.list(acme.tenant_id) == []
