"""The three address forms (DESIGN §10.1) end to end through the app and a real SMTP sink:
`"a@x.com"`, `"Name <a@x.com>"` and `{"email", "name"}` for to, cc, bcc, replyTo and from, on
the fast path, the Litestar handler and the batch endpoint. Names travel RFC 2047-encoded;
the envelope and the stored address lists carry the bare addresses; Bcc never shows."""

import json
from email.header import decode_header, make_header
from typing import Any

import pytest

from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.problems import assert_problem
from tests.support.smtp_sink import Received, SmtpSink
from tests.support.waiting import wait_until


async def start(appliance: Appliance, sink: SmtpSink) -> TenantKey:
    appliance.configure(
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": sink.port}},
        routing={"default_provider": "relay"},
    )
    await appliance.start()
    return await appliance.tenant("acme")


def mailboxes(received: Received, header: str) -> list[tuple[str, str]]:
    return [(a.display_name, a.addr_spec) for a in received.parsed[header].addresses]


def raw_header(received: Received, name: str) -> str:
    head = received.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    for field in head.replace("\r\n ", " ").split("\r\n"):
        if field.lower().startswith(name.lower() + ":"):
            return field.split(": ", 1)[1]
    raise AssertionError(f"no {name} header")


NAMED = {
    "to": ["Zoë Müller <zoe@example.net>", {"email": "bob@example.org", "name": "Bob B."}],
    "cc": ['"Müller, Ann" <ann@example.net>', "plain@example.org"],
    "bcc": ["Secret Sam <sam@example.org>"],
    "replyTo": "Support Désk <help@example.com>",
    "from": "Äcme Störe <noreply@example.com>",
}


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json;charset=utf-8"],
    ids=["fast-path", "litestar-handler"],
)
async def test_named_addresses_reach_the_wire_rfc_2047_encoded(
    appliance: Appliance, smtp_sink: SmtpSink, content_type: str
) -> None:
    acme = await start(appliance, smtp_sink)

    resp = await appliance.client.post(
        "/v1/messages",
        content=json.dumps(message(**NAMED)).encode(),
        headers={**acme.auth, "content-type": content_type},
    )

    assert resp.status_code == 202, resp.text
    await wait_until(lambda: len(smtp_sink.received) == 1, timeout=15)
    [got] = smtp_sink.received
    assert got.mail_from == "noreply@example.com"
    assert sorted(got.rcpt_tos) == sorted(
        [
            "zoe@example.net",
            "bob@example.org",
            "ann@example.net",
            "plain@example.org",
            "sam@example.org",
        ]
    )
    assert mailboxes(got, "From") == [("Äcme Störe", "noreply@example.com")]
    assert mailboxes(got, "To") == [
        ("Zoë Müller", "zoe@example.net"),
        ("Bob B.", "bob@example.org"),
    ]
    assert mailboxes(got, "Cc") == [("Müller, Ann", "ann@example.net"), ("", "plain@example.org")]
    assert mailboxes(got, "Reply-To") == [("Support Désk", "help@example.com")]
    assert "Bcc" not in got.parsed and b"Sam" not in got.data
    head = got.data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()  # every non-ASCII name is an encoded word
    to_header = raw_header(got, "To")
    assert "=?utf-8?b?" in to_header
    phrase = to_header.split(" <zoe@example.net>")[0]
    assert str(make_header(decode_header(phrase))) == "Zoë Müller"
    detail = (
        await appliance.client.get(f"/v1/messages/{resp.json()['messageId']}", headers=acme.auth)
    ).json()
    assert detail["to"] == ["zoe@example.net", "bob@example.org"]
    assert detail["from"] == {"email": "noreply@example.com", "name": "Äcme Störe"}


async def test_a_batch_takes_named_recipients(appliance: Appliance, smtp_sink: SmtpSink) -> None:
    acme = await start(appliance, smtp_sink)
    body: dict[str, Any] = {
        **message(),
        "from": "Äcme <noreply@example.com>",
        "replyTo": {"email": "help@example.com", "name": "Hélp"},
        "recipients": [
            {"to": ["Zoë Müller <zoe@example.net>"]},
            {"to": [{"email": "bob@example.org", "name": "Bob"}], "cc": ["Ann <ann@example.net>"]},
        ],
    }
    body.pop("to")

    resp = await appliance.client.post("/v1/messages/batch", json=body, headers=acme.auth)

    assert resp.status_code == 202, resp.text
    await wait_until(lambda: len(smtp_sink.received) == 2, timeout=15)
    by_rcpt = {r.rcpt_tos[0]: r for r in smtp_sink.received}
    assert mailboxes(by_rcpt["zoe@example.net"], "To") == [("Zoë Müller", "zoe@example.net")]
    bob = by_rcpt["bob@example.org"]
    assert mailboxes(bob, "To") == [("Bob", "bob@example.org")]
    assert mailboxes(bob, "Cc") == [("Ann", "ann@example.net")]
    assert mailboxes(bob, "From") == [("Äcme", "noreply@example.com")]
    assert mailboxes(bob, "Reply-To") == [("Hélp", "help@example.com")]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"to": ["Broken <zoe@example.net"]}, "to[0]"),
        ({"cc": ["Name\r\nBcc: x@evil.example <a@example.net>"]}, "cc[0]"),
        ({"to": [{"email": "not-an-address", "name": "X"}]}, "to[0]"),
        ({"from": "Äcme <not-an-address>"}, "from.email"),
        ({"from": "Äcme noreply@example.com>"}, "from.email"),
        ({"replyTo": "Help <help@>"}, "replyTo"),
        ({"replyTo": {"email": "help@example.com", "name": "A\nB"}}, "replyTo"),
    ],
)
async def test_a_bad_named_address_is_422_naming_it(
    appliance: Appliance, overrides: dict[str, Any], field: str
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    resp = await appliance.client.post("/v1/messages", json=message(**overrides), headers=acme.auth)

    assert_problem(resp, 422, field)


async def test_a_string_from_is_checked_against_the_allowed_domains(
    appliance: Appliance,
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")

    ok = await appliance.client.post(
        "/v1/messages", json=message(**{"from": "Äcme <hi@example.com>"}), headers=acme.auth
    )
    refused = await appliance.client.post(
        "/v1/messages", json=message(**{"from": "Äcme <hi@elsewhere.example>"}), headers=acme.auth
    )

    assert ok.status_code == 202, ok.text
    assert_problem(refused, 403, "from.email")
