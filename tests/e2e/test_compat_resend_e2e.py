"""The Resend-compatible API (DESIGN §10.2) driven by the official, unmodified `resend` SDK.

The SDK talks to the real `iep serve` process (`resend.api_url = …/compat/resend`), which
relays to an SMTP sink; errors are checked as the SDK raises them. A `format: "resend"`
webhook endpoint's delivery is verified with `standardwebhooks` on the svix-* headers.
"""

import base64
import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import resend
from resend.exceptions import (
    InvalidApiKeyError,
    MissingApiKeyError,
    MissingRequiredFieldsError,
    RateLimitError,
    ResendError,
    ValidationError,
)
from standardwebhooks.webhooks import Webhook

from tests.support.compat_deployment import CompatDeployment
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SENDER = "Acme <hello@acme.example.com>"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CompatDeployment]:
    d = CompatDeployment(tmp_path_factory.mktemp("resend")).start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def sdk(deployment: CompatDeployment) -> Iterator[CompatDeployment]:
    """The SDK pointed at the appliance with the `full` key (restored after each test)."""
    before = (resend.api_key, resend.api_url)
    resend.api_key = deployment.keys["full"]
    resend.api_url = f"{deployment.url}/compat/resend"
    try:
        yield deployment
    finally:
        resend.api_key, resend.api_url = before


def in_hours(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def test_send_is_delivered_to_the_relay_with_names_attachment_and_literal_braces(
    sdk: CompatDeployment,
) -> None:
    sent = resend.Emails.send(
        {
            "from": SENDER,
            "to": "Ada Lovelace <ada@example.org>",
            "cc": ["cc@example.org"],
            "subject": "Hello {{literally}}",
            "html": "<p>Price: {{not a variable}}</p>",
            "text": "Price: {{not a variable}}",
            "reply_to": "support@acme.example.com",
            "tags": [{"name": "category", "value": "welcome"}],
            "attachments": [{"filename": "note.txt", "content": list(b"hi there")}],
        }
    )

    assert set(sent) >= {"id"}
    got = resend.Emails.get(sent["id"])
    assert got["object"] == "email" and got["id"] == sent["id"]
    assert got["from"] == SENDER and got["to"] == ["ada@example.org"]
    assert got["subject"] == "Hello {{literally}}"
    assert got["html"] == "<p>Price: {{not a variable}}</p>"
    assert got["reply_to"] == ["support@acme.example.com"]
    assert got["tags"] == [{"name": "category", "value": "welcome"}]
    assert got["last_event"] in {"queued", "sent"}

    wait_until_sync(lambda: sdk.smtp.by_iep_id().get(sent["id"]))
    [mail] = [r for r in sdk.smtp.received if sent["id"] in r.data.decode("latin-1")]
    assert set(mail.rcpt_tos) == {"ada@example.org", "cc@example.org"}
    raw = mail.data.decode("latin-1")
    assert "Price: {{not a variable}}" in raw.replace("=\r\n", "")
    assert base64.b64encode(b"hi there").decode() in raw
    wait_until_sync(lambda: resend.Emails.get(sent["id"])["last_event"] == "sent")


def test_custom_headers_arrive_in_the_delivered_mime(sdk: CompatDeployment) -> None:
    unsubscribe = "<https://acme.example.com/u?t=" + "x" * 90 + ">, <mailto:u@acme.example.com>"
    sent = resend.Emails.send(
        {
            "from": SENDER,
            "to": ["headers@example.org"],
            "subject": "With headers",
            "text": "plain",
            "headers": {"X-Entity-Ref-ID": "order-42", "List-Unsubscribe": unsubscribe},
        }
    )

    wait_until_sync(lambda: sdk.smtp.by_iep_id().get(sent["id"]))
    [mail] = [r for r in sdk.smtp.received if sent["id"] in r.data.decode("latin-1")]
    parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert parsed["X-Entity-Ref-ID"] == "order-42"
    assert parsed["List-Unsubscribe"] == unsubscribe
    assert parsed["Subject"] == "With headers" and len(parsed.get_all("Subject") or []) == 1


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"X-Ref": "a\r\nBcc: evil@example.org"}, "CR, LF"),
        ({"Subject": "replaced"}, "set by IEP"),
        ({"From": "x@evil.example"}, "set by IEP"),
    ],
)
def test_header_injection_and_structural_headers_are_refused(
    sdk: CompatDeployment, headers: dict[str, str], fragment: str
) -> None:
    before = sdk.written()
    with pytest.raises(ValidationError) as err:
        resend.Emails.send({"from": SENDER, "to": ["a@example.org"], "subject": "s",
                            "html": "<p>x</p>", "headers": headers})  # fmt: skip

    assert err.value.code == 422
    assert f"headers.{next(iter(headers))}" in err.value.message and fragment in err.value.message
    assert sdk.written() == before


def test_idempotency_key_replays_the_same_id(sdk: CompatDeployment) -> None:
    body: resend.Emails.SendParams = {
        "from": SENDER,
        "to": ["grace@example.org"],
        "subject": "Once",
        "html": "<p>once</p>",
    }
    first = resend.Emails.send(body, {"idempotency_key": "order-42"})
    again = resend.Emails.send(body, {"idempotency_key": "order-42"})

    assert again["id"] == first["id"]
    with pytest.raises(ResendError) as err:
        resend.Emails.send({**body, "subject": "Twice"}, {"idempotency_key": "order-42"})
    assert err.value.code == 409 and err.value.error_type == "invalid_idempotent_request"


def test_batch_sends_every_email_with_its_own_id_in_order(sdk: CompatDeployment) -> None:
    params: list[resend.Emails.SendParams] = [
        {"from": SENDER, "to": [f"b{i}@example.org"], "subject": f"B{i}", "text": f"n{i}"}
        for i in range(3)
    ]
    sent = resend.Batch.send(params)

    ids = [item["id"] for item in sent["data"]]
    assert len(set(ids)) == 3
    assert [resend.Emails.get(i)["to"] for i in ids] == [[f"b{i}@example.org"] for i in range(3)]
    assert resend.Emails.get(ids[1])["subject"] == "B1"


def test_a_bad_email_in_a_batch_stores_none_of_them(sdk: CompatDeployment) -> None:
    before = sdk.written()
    params: list[resend.Emails.SendParams] = [
        {"from": SENDER, "to": ["ok@example.org"], "subject": "fine", "html": "<p>x</p>"},
        {"from": SENDER, "to": ["not-an-address"], "subject": "bad", "html": "<p>x</p>"},
    ]
    with pytest.raises(ValidationError) as err:
        resend.Batch.send(params)

    assert err.value.code == 422 and "[1].to" in err.value.message
    assert sdk.written() == before


def test_list_pages_with_after_and_has_more(sdk: CompatDeployment) -> None:
    for i in range(3):
        resend.Emails.send({"from": SENDER, "to": [f"l{i}@example.org"], "subject": "L",
                            "html": "<p>l</p>"})  # fmt: skip
    first = resend.Emails.list({"limit": 2})
    second = resend.Emails.list({"limit": 2, "after": first["data"][-1]["id"]})

    assert first["object"] == "list" and first["has_more"] is True
    assert len(first["data"]) == 2 and all(e["object"] == "email" for e in first["data"])
    seen = {e["id"] for e in first["data"]}
    assert not seen & {e["id"] for e in second["data"]}
    assert second["data"][0]["created_at"] <= first["data"][-1]["created_at"]


def test_scheduled_email_is_rescheduled_then_cancelled(sdk: CompatDeployment) -> None:
    sent = resend.Emails.send({"from": SENDER, "to": ["later@example.org"], "subject": "Later",
                               "html": "<p>later</p>", "scheduled_at": in_hours(1)})  # fmt: skip
    assert resend.Emails.get(sent["id"])["last_event"] == "scheduled"

    new_time = in_hours(2)
    updated = resend.Emails.update({"id": sent["id"], "scheduled_at": new_time})
    assert updated["object"] == "email" and updated["id"] == sent["id"]
    got = resend.Emails.get(sent["id"])
    assert got["scheduled_at"][:16] == new_time[:16]

    cancelled = resend.Emails.cancel(sent["id"])
    assert cancelled["id"] == sent["id"]
    assert resend.Emails.get(sent["id"])["last_event"] == "canceled"
    with pytest.raises(ResendError) as err:
        resend.Emails.update({"id": sent["id"], "scheduled_at": in_hours(3)})
    assert err.value.code == 422


def test_missing_key_and_bad_key_are_resends_auth_errors(sdk: CompatDeployment) -> None:
    body: resend.Emails.SendParams = {
        "from": SENDER, "to": ["x@example.org"], "subject": "s", "html": "<p>x</p>",
    }  # fmt: skip
    resend.api_key = "iep_live_notakey_0000000000000000"
    with pytest.raises(InvalidApiKeyError) as bad:
        resend.Emails.send(body)
    assert bad.value.code == 403

    resp = httpx.post(f"{sdk.url}/compat/resend/emails", json=body, trust_env=False)
    assert resp.status_code == 401
    assert resp.json() == {
        "statusCode": 401,
        "message": "Missing API key in the authorization header.",
        "name": "missing_api_key",
    }
    resend.api_key = ""
    with pytest.raises(MissingApiKeyError):
        resend.Emails.send(body)


def test_send_only_key_cannot_read_restricted_api_key(sdk: CompatDeployment) -> None:
    sent = resend.Emails.send({"from": SENDER, "to": ["r@example.org"], "subject": "r",
                               "html": "<p>r</p>"})  # fmt: skip
    resend.api_key = sdk.keys["send-only"]
    with pytest.raises(ResendError) as err:
        resend.Emails.get(sent["id"])

    assert err.value.code == 401 and err.value.error_type == "restricted_api_key"


def test_other_tenants_email_is_not_found(sdk: CompatDeployment) -> None:
    sent = resend.Emails.send({"from": SENDER, "to": ["n@example.org"], "subject": "n",
                               "html": "<p>n</p>"})  # fmt: skip
    resend.api_key = sdk.keys["other"]
    with pytest.raises(ResendError) as err:
        resend.Emails.get(sent["id"])

    assert err.value.code == 404 and err.value.error_type == "not_found"


def test_missing_fields_are_named_and_store_nothing(sdk: CompatDeployment) -> None:
    before = sdk.written()
    with pytest.raises(MissingRequiredFieldsError) as err:
        resend.Emails.send({"to": ["x@example.org"], "html": "<p>x</p>"})  # type: ignore[typeddict-item]

    assert err.value.code == 422
    assert "`from`" in err.value.message and "`subject`" in err.value.message
    assert sdk.written() == before


def test_fifty_one_recipients_is_a_validation_error(sdk: CompatDeployment) -> None:
    before = sdk.written()
    with pytest.raises(ValidationError) as err:
        resend.Emails.send({"from": SENDER, "to": [f"u{i}@example.org" for i in range(51)],
                            "subject": "many", "html": "<p>x</p>"})  # fmt: skip

    assert err.value.code == 422 and "`to`" in err.value.message
    assert sdk.written() == before


def test_sender_of_another_domain_is_refused(sdk: CompatDeployment) -> None:
    before = sdk.written()
    with pytest.raises(ResendError) as err:
        resend.Emails.send({"from": "x@other.example.com", "to": ["a@example.org"],
                            "subject": "s", "html": "<p>x</p>"})  # fmt: skip

    assert err.value.code == 403 and err.value.error_type == "validation_error"
    assert "other.example.com" in err.value.message
    assert sdk.written() == before


def test_malformed_json_is_a_resend_shaped_400(sdk: CompatDeployment) -> None:
    resp = httpx.post(
        f"{sdk.url}/compat/resend/emails",
        content=b'{"from": ',
        headers={"Authorization": f"Bearer {sdk.keys['full']}", "Content-Type": "application/json"},
        trust_env=False,
    )

    assert resp.status_code == 400
    assert resp.json()["name"] == "validation_error" and resp.json()["statusCode"] == 400


def test_resend_format_webhook_verifies_with_standard_webhooks(sdk: CompatDeployment) -> None:
    created = httpx.post(
        f"{sdk.url}/v1/webhooks",
        json={"url": sdk.hooks.url("/resend"), "events": ["email.sent"], "format": "resend"},
        headers={"x-api-key": sdk.keys["admin"]},
        trust_env=False,
    )
    assert created.status_code == 201, created.text
    assert created.json()["format"] == "resend" and created.json()["events"] == ["message.sent"]
    secret = created.json()["secret"]

    sent = resend.Emails.send({"from": SENDER, "to": ["hook@example.org"], "subject": "Hooked",
                               "html": "<p>h</p>"})  # fmt: skip

    def delivery():  # type: ignore[no-untyped-def]
        for r in sdk.hooks.requests:
            if r.path == "/resend" and sent["id"].encode() in r.body:
                return r
        return None

    req = wait_until_sync(delivery)
    svix = {k: req.headers[f"svix-{k}"] for k in ("id", "timestamp", "signature")}
    payload = resend.Webhooks.verify(
        {"payload": req.body.decode(), "headers": svix, "webhook_secret": secret}  # type: ignore[typeddict-item]
    )
    assert payload["type"] == "email.sent"
    assert payload["data"]["email_id"] == sent["id"]
    assert payload["data"]["to"] == ["hook@example.org"]
    assert payload["data"]["from"] == SENDER and payload["data"]["subject"] == "Hooked"
    assert payload["created_at"] and payload["data"]["created_at"]
    # The same Standard Webhooks scheme: standardwebhooks accepts the svix-* values too.
    standard = {f"webhook-{k}": v for k, v in svix.items()}
    assert Webhook(secret).verify(req.body, standard)["type"] == "email.sent"
    with pytest.raises(ValueError, match="signature"):
        resend.Webhooks.verify(
            {"payload": req.body.decode().replace("Hooked", "Forged"), "headers": svix,
             "webhook_secret": secret}  # type: ignore[typeddict-item]
        )  # fmt: skip


def test_unknown_webhook_format_is_a_422_naming_it(sdk: CompatDeployment) -> None:
    resp = httpx.post(
        f"{sdk.url}/v1/webhooks",
        json={"url": sdk.hooks.url("/x"), "format": "mailgun"},
        headers={"x-api-key": sdk.keys["admin"]},
        trust_env=False,
    )

    assert resp.status_code == 422
    assert any(e["field"] == "format" for e in resp.json()["errors"])


def test_over_the_rate_limit_is_rate_limit_exceeded(sdk: CompatDeployment) -> None:
    sdk.limit(per_minute=1)
    resend.api_key = sdk.keys["limited"]
    body: resend.Emails.SendParams = {"from": "x@limited.example.com", "to": ["a@example.org"],
                                      "subject": "s", "html": "<p>x</p>"}  # fmt: skip
    resend.Emails.send(body)
    with pytest.raises(RateLimitError) as err:
        resend.Emails.send(body)

    assert err.value.code == 429 and err.value.error_type == "rate_limit_exceeded"
    assert int(err.value.headers["retry-after"]) >= 1


def test_sandbox_key_sends_to_the_outbox_not_the_relay(sdk: CompatDeployment) -> None:
    resend.api_key = sdk.keys["sandbox"]
    sent = resend.Emails.send({"from": SENDER, "to": ["box@example.org"], "subject": "box",
                               "html": "<p>box</p>"})  # fmt: skip

    wait_until_sync(lambda: resend.Emails.get(sent["id"])["last_event"] == "sent", timeout=20)
    auth = {"x-api-key": sdk.keys["sandbox"]}
    detail = httpx.get(f"{sdk.url}/v1/messages/{sent['id']}", headers=auth, trust_env=False).json()
    assert detail["sandbox"] is True
    assert sent["id"] not in sdk.smtp.by_iep_id()
