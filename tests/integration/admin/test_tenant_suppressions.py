"""The suppression list card: add, search, remove; CSV import reports added, skipped and
invalid rows; CSV export downloads the whole list, and importing it elsewhere gives the same
addresses back."""

import csv
import io

from tests.integration.admin.conftest import Operator
from tests.integration.tenant.conftest import Appliance


async def listed(appliance: Appliance, tenant_id: str) -> dict[str, str]:
    items, _next = await appliance.rt.services.suppressions.list_page(tenant_id, None, 200)
    return {s.email: s.reason for s in items}


async def test_addresses_are_added_searched_and_removed(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    base = f"/admin/tenants/{acme.tenant_id}/suppressions"
    await admin.page(f"/admin/tenants/{acme.tenant_id}")

    added = await admin.post(
        base, {"emails": "Ada@Example.org, bob@example.org", "reason": "complaint"}
    )
    found = await admin.page(f"{base}?search=ADA", headers={"HX-Request": "true"})
    removed = await admin.post(f"{base}/remove", {"email": "ada@example.org"}, htmx=True)

    assert added.status_code == 303
    assert found.status_code == 200 and "ada@example.org" in found.text
    assert "bob@example.org" not in found.text and "<html" not in found.text
    assert removed.status_code == 200 and "removed from the suppression list" in removed.text
    assert await listed(appliance, acme.tenant_id) == {"bob@example.org": "complaint"}


async def test_a_bad_address_is_a_field_error_and_adds_nothing(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    await admin.page(f"/admin/tenants/{acme.tenant_id}")

    resp = await admin.post(
        f"/admin/tenants/{acme.tenant_id}/suppressions", {"emails": "ok@example.org nope"}
    )

    assert resp.status_code == 422 and "emails[1]" in resp.text
    assert await listed(appliance, acme.tenant_id) == {}


async def test_csv_import_reports_added_skipped_and_invalid_rows(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    await appliance.rt.services.suppressions.add(acme.tenant_id, ["old@example.org"], "manual")
    await admin.page(f"/admin/tenants/{acme.tenant_id}")
    data = (
        b"email,reason\r\n"
        b"new1@example.org,manual\r\n"
        b"OLD@example.org\r\n"
        b"\r\n"
        b"not-an-address\r\n"
        b"new2@example.org\r\n"
        b"new1@example.org\r\n"
    )

    resp = await admin.post(
        f"/admin/tenants/{acme.tenant_id}/suppressions/import",
        {"reason": "complaint"},
        files={"file": ("list.csv", data, "text/csv")},
    )

    assert resp.status_code == 200, resp.text[:2000]
    assert "2 added, 2 skipped" in resp.text and "1 invalid" in resp.text
    assert "not-an-address" in resp.text  # the invalid row, with its row number
    assert await listed(appliance, acme.tenant_id) == {
        "new1@example.org": "complaint",
        "new2@example.org": "complaint",
        "old@example.org": "manual",
    }


async def test_csv_export_then_import_round_trips_the_list(
    appliance: Appliance, admin: Operator
) -> None:
    acme = await appliance.tenant("acme")
    globex = await appliance.tenant("globex")
    emails = [f"user{i:03}@example.org" for i in range(250)]  # more than one page
    await appliance.rt.services.suppressions.add(acme.tenant_id, emails, "manual")
    await admin.page(f"/admin/tenants/{acme.tenant_id}")

    exported = await admin.page(f"/admin/tenants/{acme.tenant_id}/suppressions.csv")

    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["email"] for r in rows] == emails
    assert set(rows[0]) == {"email", "reason", "sourceMessageId", "createdAt"}

    imported = await admin.post(
        f"/admin/tenants/{globex.tenant_id}/suppressions/import",
        files={"file": ("acme.csv", exported.content, "text/csv")},
    )

    assert imported.status_code == 200 and "250 added, 0 skipped" in imported.text
    assert sorted(await _all(appliance, globex.tenant_id)) == emails


async def _all(appliance: Appliance, tenant_id: str) -> list[str]:
    out: list[str] = []
    cursor = None
    while True:
        items, cursor = await appliance.rt.services.suppressions.list_page(
            tenant_id, None, 200, cursor
        )
        out += [s.email for s in items]
        if cursor is None:
            return out


async def test_an_upload_that_is_not_text_is_refused(appliance: Appliance, admin: Operator) -> None:
    acme = await appliance.tenant("acme")
    await admin.page(f"/admin/tenants/{acme.tenant_id}")

    resp = await admin.post(
        f"/admin/tenants/{acme.tenant_id}/suppressions/import",
        files={"file": ("x.csv", b"\xff\xfe\x00bad", "text/csv")},
    )

    assert resp.status_code == 422 and "UTF-8" in resp.text
