"""The name IEP gives itself in EHLO and Message-ID (DESIGN §10.1 `[delivery] hostname`)."""

import pytest

from iep_appliance.domain.hostnames import name_for, own_hostname


@pytest.mark.parametrize(
    ("configured", "fqdn", "sender", "expected"),
    [
        ("mail.acme.io", "box.internal.example", "a@b.example", "mail.acme.io"),
        ("Mail.Acme.IO.", "localhost", "a@b.example", "mail.acme.io"),
        ("", "box.internal.example", "a@b.example", "box.internal.example"),
        ("", "localhost", "noreply@acme.example", "acme.example"),
        ("", "localhost.localdomain", "noreply@acme.example", "acme.example"),
        ("", "buildbox", "noreply@acme.example", "acme.example"),
        ("", "", "noreply@acme.example", "acme.example"),
        ("", "web.localhost", "noreply@acme.example", "acme.example"),
        ("", "localhost", "noreply@bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_the_name_is_configured_then_fqdn_then_the_senders_domain(
    configured: str, fqdn: str, sender: str, expected: str
) -> None:
    assert name_for(own_hostname(configured, fqdn), sender) == expected
