"""The dashboard's template pages and engagement chart over a real Runtime: create
from the editor, a new version with the diff of what changed, the preview document of a draft,
a test send, bad input shown on the page (nothing stored), and viewers may not save."""

from iep_appliance.domain.tracking import EngagementHit
from tests.integration.admin.conftest import Operator
from tests.integration.tenant.conftest import Appliance

DRAFT = {
    "name": "Receipt",
    "subject": "Receipt {{number}}",
    "htmlBody": "<p>Thanks {{name}}</p>",
    "textBody": "",
    "sampleVariables": '{"name": "Ada", "number": 7}',
}


async def _tenant_id(appliance: Appliance) -> str:
    tenant = await appliance.rt.services.store.get_tenant_by_slug("default")
    assert tenant is not None
    return tenant.id


async def test_create_edit_diff_preview_and_test_send(
    appliance: Appliance, admin: Operator
) -> None:
    tid = await _tenant_id(appliance)
    listing = await admin.page("/admin/templates")
    assert listing.status_code == 200 and listing.headers["content-type"].startswith("text/html")
    editor = await admin.page(f"/admin/tenants/{tid}/templates/new")
    assert editor.status_code == 200 and 'sandbox=""' in editor.text
    made = await admin.post(f"/admin/tenants/{tid}/templates", DRAFT)
    assert made.status_code == 303, made.text
    path = made.headers["location"].split("?")[0]
    template_id = path.rsplit("/", 1)[1]

    await admin.page(path)
    saved = await admin.post(path, {**DRAFT, "htmlBody": "<p>Thank you {{name}}</p>"})
    assert saved.status_code == 303
    page = await admin.page(path)
    assert "v2" in page.text and "Changes in v2" in page.text
    assert '<span class="del">-&lt;p&gt;Thanks {{name}}&lt;/p&gt;</span>' in page.text
    assert '<span class="add">+&lt;p&gt;Thank you {{name}}&lt;/p&gt;</span>' in page.text
    listed = await admin.page("/admin/templates")
    assert "Receipt" in listed.text and "v2" in listed.text

    preview = await admin.post(f"/admin/tenants/{tid}/templates/preview", DRAFT)
    assert preview.status_code == 200
    assert "Receipt 7" in preview.text and "Thanks Ada" in preview.text
    assert "sandbox" in preview.headers["content-security-policy"]

    await admin.page(path)
    sent = await admin.post(
        f"{path}/test", {"to": "qa@example.org", "from": "noreply@example.com", "version": "1"}
    )
    assert sent.status_code == 200 and "Test message" in sent.text, sent.text
    messages, _ = await appliance.rt.services.messages.list(tid, {})
    assert [(m.template_id, m.template_version, m.to) for m in messages] == [
        (template_id, 1, ("qa@example.org",))
    ]


async def test_a_bad_draft_is_shown_on_the_page_and_nothing_is_stored(
    appliance: Appliance, admin: Operator
) -> None:
    tid = await _tenant_id(appliance)
    await admin.page(f"/admin/tenants/{tid}/templates/new")
    bad = await admin.post(f"/admin/tenants/{tid}/templates", {**DRAFT, "htmlBody": "{{#if x}}"})
    assert bad.status_code == 422 and "htmlBody" in bad.text
    worse = await admin.post(f"/admin/tenants/{tid}/templates", {**DRAFT, "sampleVariables": "["})
    assert worse.status_code == 422 and "sampleVariables" in worse.text
    preview = await admin.post(
        f"/admin/tenants/{tid}/templates/preview", {**DRAFT, "subject": "{{"}
    )
    assert "Cannot preview" in preview.text
    assert (await appliance.rt.services.templates.page(tid))[0] == []


async def test_a_viewer_sees_templates_but_cannot_save(
    appliance: Appliance, admin: Operator, viewer: Operator
) -> None:
    tid = await _tenant_id(appliance)
    await admin.page(f"/admin/tenants/{tid}/templates/new")
    made = await admin.post(f"/admin/tenants/{tid}/templates", DRAFT)
    path = made.headers["location"].split("?")[0]
    assert (await viewer.page(path)).status_code == 200
    refused = await viewer.post(path, DRAFT)
    assert refused.status_code == 403


async def test_the_engagement_page_charts_opens_and_clicks(
    appliance: Appliance, admin: Operator
) -> None:
    tid = await _tenant_id(appliance)
    store = appliance.rt.services.store
    sent = await appliance.client.post(
        "/v1/messages",
        json={
            "to": ["a@example.org"],
            "from": "noreply@example.com",
            "subject": "s",
            "htmlBody": "<a href='https://x.example/'>x</a>",
            "tracking": {"opens": True, "clicks": True},
        },
        headers={"x-api-key": appliance.admin.key},  # type: ignore[union-attr]
    )
    message_id = sent.json()["messageId"]
    for kind, url in (("open", None), ("open", None), ("click", "https://x.example/")):
        await store.record_engagement(EngagementHit(tid, message_id, kind, "UA", None, url))
    page = await admin.page(f"/admin/engagement?tenant={tid}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<strong>2</strong> opens (1 unique" in page.text
    assert "2 opens (1 unique)" in page.text and "1 clicks (1 unique)" in page.text
