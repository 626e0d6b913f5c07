"""The Postmark-compatible API (DESIGN §10.2) driven by the unmodified `postmarker` client.

`PostmarkClient(server_token=<IEP key>, root_api_url=<appliance>)` against the real `iep serve`
process relaying to an SMTP sink; errors are checked as postmarker raises them (`ClientError`
with Postmark's `error_code`) and on the wire (HTTP status, `ErrorCode`, `Message`).
"""

import email
import email.policy
from collections.abc import Iterator

import httpx
import pytest
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError

from tests.support.compat_deployment import CompatDeployment
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SENDER = "Acme <hello@acme.example.com>"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CompatDeployment]:
    d = CompatDeployment(tmp_path_factory.mktemp("postmark")).start()
    try:
        yield d
    finally:
        d.stop()


def client(d: CompatDeployment, who: str = "full") -> PostmarkClient:
    return PostmarkClient(server_token=d.keys[who], root_api_url=d.url)


def test_send_answers_postmarks_ok_and_is_delivered(deployment: CompatDeployment) -> None:
    pm = client(deployment)
    sent = pm.emails.send(
        From=SENDER,
        To='"Ada Lovelace" <ada@example.org>, grace@example.org',
        Subject="Hello {{there}}",
        HtmlBody="<p>{{not a variable}}</p>",
        TextBody="{{not a variable}}",
        Tag="welcome",
        Metadata={"order": "42"},
        Headers={"X-Entity-Ref": "abc"},
        Attachments=[{"Name": "a.txt", "Content": "aGk=", "ContentType": "text/plain"}],
    )

    assert sent["ErrorCode"] == 0 and sent["Message"] == "OK"
    assert sent["MessageID"] and sent["SubmittedAt"]
    assert sent["To"] == '"Ada Lovelace" <ada@example.org>, grace@example.org'
    wait_until_sync(lambda: deployment.smtp.by_iep_id().get(sent["MessageID"]), timeout=20)
    [mail] = [r for r in deployment.smtp.received if sent["MessageID"] in r.data.decode("latin-1")]
    assert set(mail.rcpt_tos) == {"ada@example.org", "grace@example.org"}
    assert "{{not a variable}}" in mail.data.decode("latin-1").replace("=\r\n", "")
    parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert parsed["X-Entity-Ref"] == "abc"  # Headers are written into the MIME

    details = pm.messages.outbound.get(sent["MessageID"])
    assert details.MessageID == sent["MessageID"]
    assert details.Subject == "Hello {{there}}"
    assert details.HtmlBody == "<p>{{not a variable}}</p>"
    assert details.Tag == "welcome" and details.Metadata == {"order": "42"}
    assert details.Recipients == ["ada@example.org", "grace@example.org"]
    assert details.Attachments == ["a.txt"]
    assert details.MessageStream == "outbound"


def test_header_injection_and_structural_headers_are_error_300(
    deployment: CompatDeployment,
) -> None:
    before = deployment.written()
    for headers, fragment in (
        ({"X-Ref": "a\r\nBcc: evil@example.org"}, "CR, LF"),
        ({"Content-Type": "text/plain"}, "set by IEP"),
    ):
        with pytest.raises(ClientError) as err:
            client(deployment).emails.send(From=SENDER, To="a@example.org", Subject="s",
                                           TextBody="x", Headers=headers)  # fmt: skip
        assert err.value.error_code == 300
        assert "Headers[0]" in str(err.value) and fragment in str(err.value)
    assert deployment.written() == before


def test_batch_answers_one_result_per_message_and_sends_the_good_ones(
    deployment: CompatDeployment,
) -> None:
    before = deployment.written()
    results = client(deployment).emails.send_batch(
        {"From": SENDER, "To": "b1@example.org", "Subject": "one", "TextBody": "1"},
        {"From": SENDER, "To": "not an address", "Subject": "two", "TextBody": "2"},
        {"From": SENDER, "To": "b3@example.org", "Subject": "three", "HtmlBody": "<p>3</p>"},
    )

    assert [r["ErrorCode"] for r in results] == [0, 300, 0]
    assert results[0]["MessageID"] and results[2]["MessageID"]
    assert "MessageID" not in results[1] and "To" in results[1]["Message"]
    assert deployment.written()[0][0] == before[0][0] + 2


def test_missing_or_bad_token_is_error_code_10_with_401(deployment: CompatDeployment) -> None:
    with pytest.raises(ClientError) as bad:
        PostmarkClient(server_token="iep_live_nope_000", root_api_url=deployment.url).emails.send(
            From=SENDER, To="x@example.org", Subject="s", TextBody="t"
        )
    assert bad.value.error_code == 10

    resp = httpx.post(f"{deployment.url}/email", json={"From": SENDER}, trust_env=False)
    assert resp.status_code == 401
    assert resp.json()["ErrorCode"] == 10 and resp.json()["Message"]


def test_invalid_request_is_300_with_422_and_stores_nothing(deployment: CompatDeployment) -> None:
    before = deployment.written()
    resp = httpx.post(
        f"{deployment.url}/email",
        json={"From": SENDER, "To": "nobody", "Subject": "s", "HtmlBody": "<p>x</p>"},
        headers={"X-Postmark-Server-Token": deployment.keys["full"], "Accept": "application/json"},
        trust_env=False,
    )

    assert resp.status_code == 422
    assert resp.json()["ErrorCode"] == 300 and "'To" in resp.json()["Message"]
    assert deployment.written() == before


def test_sender_of_another_domain_is_error_400(deployment: CompatDeployment) -> None:
    before = deployment.written()
    with pytest.raises(ClientError) as err:
        client(deployment).emails.send(
            From="x@other.example.com", To="a@example.org", Subject="s", TextBody="t"
        )

    assert err.value.error_code == 400
    assert deployment.written() == before


def test_all_recipients_suppressed_is_error_406_inactive_recipient(
    deployment: CompatDeployment,
) -> None:
    added = httpx.post(
        f"{deployment.url}/v1/suppressions",
        json={"emails": ["gone@example.org"]},
        headers={"x-api-key": deployment.keys["admin"]},
        trust_env=False,
    )
    assert added.status_code in (200, 201), added.text
    before = deployment.written()
    with pytest.raises(ClientError) as err:
        client(deployment).emails.send(
            From=SENDER, To="gone@example.org", Subject="s", TextBody="t"
        )

    assert err.value.error_code == 406 and "gone@example.org" in str(err.value)
    assert deployment.written() == before


def test_unknown_message_details_is_error_701(deployment: CompatDeployment) -> None:
    with pytest.raises(ClientError) as err:
        client(deployment).messages.outbound.get("0190aaaa-0000-7000-8000-000000000000")

    assert err.value.error_code == 701


def test_other_tenants_message_details_is_error_701(deployment: CompatDeployment) -> None:
    sent = client(deployment).emails.send(
        From=SENDER, To="t@example.org", Subject="s", TextBody="t"
    )
    with pytest.raises(ClientError) as err:
        client(deployment, "other").messages.outbound.get(sent["MessageID"])

    assert err.value.error_code == 701


def test_malformed_json_is_error_402(deployment: CompatDeployment) -> None:
    resp = httpx.post(
        f"{deployment.url}/email",
        content=b"{nope",
        headers={
            "X-Postmark-Server-Token": deployment.keys["full"],
            "Content-Type": "application/json",
        },
        trust_env=False,
    )

    assert resp.status_code == 422 and resp.json()["ErrorCode"] == 402


def test_over_the_rate_limit_is_http_429(deployment: CompatDeployment) -> None:
    deployment.limit(per_minute=1)
    pm = client(deployment, "limited")
    pm.emails.send(From="x@limited.example.com", To="a@example.org", Subject="s", TextBody="t")
    with pytest.raises(ClientError) as err:
        pm.emails.send(From="x@limited.example.com", To="a@example.org", Subject="s", TextBody="t")

    assert err.value.error_code == 429
