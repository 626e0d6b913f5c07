"""GDPR export and erase: the export names everything; after an erase no byte of
the address or of its messages' content is left in the SQLite file, its WAL or the data
directory; the address stays suppressed by its hash; malformed addresses are 422."""

import base64
from pathlib import Path

from tests.integration.compliance.conftest import Appliance, TenantKey, message
from tests.support.problems import assert_problem
from tests.support.waiting import wait_until
from tests.support.webhook_sink import WebhookSink

ADDRESS = "Grace.Hopper@example.org"
CONTENT = "COBOL-COMPILER-NOTES-7731"  # only in the erased person's messages


def occurrences(root: Path, *needles: str) -> list[str]:
    """Files under `root` (database, WAL, attachments, everything) containing any needle."""
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            for needle in needles:
                if needle.lower().encode() in data:
                    hits.append(f"{path.name}: {needle}")
    return hits


async def send(appliance: Appliance, who: TenantKey, **overrides: object) -> str:
    resp = await appliance.client.post("/v1/messages", json=message(**overrides), headers=who.auth)
    assert resp.status_code == 202, resp.text
    return resp.json()["messageId"]


async def test_erase_leaves_no_trace_in_the_database_file_or_data_dir(
    appliance: Appliance, webhook_sink: WebhookSink
) -> None:
    appliance.configure(webhooks={"allow_private_networks": True})
    await appliance.start()
    acme = await appliance.tenant("acme")
    hook = await appliance.client.post(
        "/v1/webhooks",
        json={"url": webhook_sink.url(), "events": ["message.sent"]},
        headers=acme.auth,
    )
    assert hook.status_code == 201, hook.text
    attachment = base64.b64encode(f"notes for {ADDRESS}: {CONTENT}".encode()).decode()
    erased = [
        await send(
            appliance,
            acme,
            to=[ADDRESS],
            subject=f"Hi {CONTENT}",
            htmlBody=f"<p>{CONTENT} for {{{{name}}}}</p>",
            attachments=[
                {"filename": "notes.txt", "contentType": "text/plain", "content": attachment}
            ],
        ),
        await send(
            appliance,
            acme,
            to=["ada@example.org"],
            cc=[ADDRESS.upper()],
            subject="Team",
            htmlBody=f"<p>{CONTENT}</p>",
        ),
    ]
    kept = await send(appliance, acme, to=["ada@example.org"], subject="Only Ada")
    added = await appliance.client.post(
        "/v1/suppressions", json={"emails": [ADDRESS]}, headers=acme.auth
    )
    assert added.status_code in (200, 201), added.text
    await wait_until(lambda: len(webhook_sink.requests) >= 3, timeout=60)
    data_dir = Path(appliance.rt.services.store.db.path).parent
    assert occurrences(data_dir, ADDRESS, CONTENT)  # the search does find them before

    export = await appliance.client.get(f"/v1/gdpr/export/{ADDRESS}", headers=acme.auth)
    assert export.status_code == 200, export.text
    doc = export.json()
    assert doc["subject"] == ADDRESS.lower()
    assert sorted(m["id"] for m in doc["messages"]) == sorted(erased)
    first = next(m for m in doc["messages"] if m["id"] == erased[0])
    assert first["attachments"][0]["filename"] == "notes.txt"
    assert any(e["type"] == "sent" for e in first["events"])
    assert doc["suppressions"][0]["email"] == ADDRESS.lower()

    resp = await appliance.client.delete(f"/v1/gdpr/{ADDRESS}", headers=acme.auth)
    assert resp.status_code == 202, resp.text
    request_id = resp.json()["requestId"]

    async def done() -> dict | None:
        listed = await appliance.client.get("/v1/gdpr/requests", headers=acme.auth)
        found = {r["id"]: r for r in listed.json()["data"]}[request_id]
        return found if found["state"] == "done" else None

    finished = await wait_until(done, timeout=60)
    assert finished["counts"]["messages"] == 2 and finished["counts"]["attachments"] == 1
    assert finished["emailHash"].startswith("sha256:")
    assert occurrences(data_dir, ADDRESS, CONTENT) == []
    for gone in erased:
        got = await appliance.client.get(f"/v1/messages/{gone}", headers=acme.auth)
        assert got.status_code == 404
    assert (
        await appliance.client.get(f"/v1/messages/{kept}", headers=acme.auth)
    ).status_code == 200
    audit = await appliance.client.get("/v1/audit-logs?action=gdpr.*", headers=acme.auth)
    assert audit.json()["data"][0]["target"] == {"type": "gdprRequest", "id": request_id}

    # still blocked: a new send to the address is suppressed by the hash alone
    again = await send(appliance, acme, to=[ADDRESS], subject="Are you there?")

    async def suppressed() -> bool:
        got = await appliance.client.get(f"/v1/messages/{again}", headers=acme.auth)
        return any(e["type"] == "suppressed" for e in got.json()["events"])

    await wait_until(suppressed, timeout=60)
    outbox = await appliance.rt.services.store.get_outbox(acme.tenant_id, again)
    assert outbox is None  # never delivered


async def test_malformed_addresses_are_422_and_nothing_is_written(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    for bad in ("not-an-address", "a@@b", "x@"):
        assert_problem(
            await appliance.client.get(f"/v1/gdpr/export/{bad}", headers=acme.auth), 422, "email"
        )
        assert_problem(
            await appliance.client.delete(f"/v1/gdpr/{bad}", headers=acme.auth), 422, "email"
        )
    listed = await appliance.client.get("/v1/gdpr/requests", headers=acme.auth)
    assert listed.json()["data"] == []
    reader = await appliance.key(acme, ("read", "send"))
    refused = await appliance.client.delete(f"/v1/gdpr/{ADDRESS}", headers=reader.auth)
    assert_problem(refused, 403)
