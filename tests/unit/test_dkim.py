"""domain/dkim.py: signatures dkimpy's verifier accepts, over the headers DESIGN §10.3 names."""

from collections.abc import Callable

import dkim as dkimpy
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from iep_appliance.domain import dkim

MESSAGE = (
    b"From: =?utf-8?b?Wm/Dqw==?= <noreply@example.com>\r\n"
    b"To: ada@example.org\r\n"
    b"Cc: bob@example.org\r\n"
    b"Subject: Hello\r\n"
    b"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
    b"Message-ID: <abc@example.com>\r\n"
    b"List-Unsubscribe: <https://mail.example.com/u/t>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n" + b"Hello there.\r\n" * 50
)
KEYS = {
    "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ed25519": ed25519.Ed25519PrivateKey.generate(),
}


def key_of(algorithm: str) -> dkim.DkimSigningKey:
    return dkim.DkimSigningKey("example.com", "iep1", algorithm, KEYS[algorithm])


def txt_for(algorithm: str) -> Callable[..., bytes | None]:  # dkimpy's dnsfunc
    record = dkim.txt_record(algorithm, dkim.public_value(KEYS[algorithm])).encode()
    return lambda name, timeout=5: record if name == b"iep1._domainkey.example.com." else None


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_signature_verifies_with_dkimpy(algorithm: str) -> None:
    signed = dkim.sign(MESSAGE, key_of(algorithm), 1_700_000_000)

    assert dkimpy.verify(signed, dnsfunc=txt_for(algorithm))


@pytest.mark.parametrize(
    "change",
    [
        (b"Subject: Hello", b"Subject: Hellp"),
        (b"Hello there.", b"Hello therf."),
        (b"List-Unsubscribe: <https://mail.example.com/u/t>", b"List-Unsubscribe: <https://x/u>"),
    ],
)
def test_a_changed_signed_part_fails_verification(change: tuple[bytes, bytes]) -> None:
    signed = dkim.sign(MESSAGE, key_of("rsa"), 1_700_000_000)

    assert not dkimpy.verify(signed.replace(*change, 1), dnsfunc=txt_for("rsa"))


def test_h_lists_the_present_headers_of_design_10_3() -> None:
    signed = dkim.sign(MESSAGE, key_of("rsa"), 1_700_000_000)
    header = signed.split(b"\r\nFrom:", 1)[0].decode()
    h = "".join(header.split("h=", 1)[1].split(";", 1)[0].split()).split(":")

    assert h == [
        "from", "to", "cc", "subject", "date", "message-id", "mime-version", "content-type",
        "list-unsubscribe", "list-unsubscribe-post",
    ]  # fmt: skip
    assert "t=1700000000" in header
    assert "c=relaxed/relaxed" in header


def test_signing_is_deterministic_for_the_same_time() -> None:
    assert dkim.sign(MESSAGE, key_of("rsa"), 1) == dkim.sign(MESSAGE, key_of("rsa"), 1)


def test_the_txt_record_names_the_key_type() -> None:
    assert dkim.txt_record("ed25519", "AAAA") == "v=DKIM1; k=ed25519; p=AAAA"
