"""domain/dkim.py: signatures dkimpy's verifier accepts, over the headers DESIGN §10.3 names."""

import random
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


def _random_body(rng: random.Random) -> bytes:
    pieces = [b"a", b"b", b" ", b"  ", b"\t", b" \t ", b"\r\n", b"\r\n\r\n", b"\r", b"\n", b"."]
    return b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 40)))


def test_the_body_canonicalization_is_dkimpys_byte_for_byte() -> None:
    rng = random.Random(6376)  # seeded: the same 5,000 bodies every run
    relaxed = dkimpy.canonicalization.CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    bodies = [b"", b"\r\n", b"\r\n\r\n", b"x", b"x \t\r\n\r\n", MESSAGE.split(b"\r\n\r\n", 1)[1]]
    bodies += [_random_body(rng) for _ in range(5000)]
    wrong = [b for b in bodies if dkim.canonical_body(b) != relaxed.canonicalize_body(b)]
    assert wrong == []


def _random_message(rng: random.Random) -> bytes:
    heads = [
        b"From: a@example.com",
        b"To:  b@example.org ",
        b"Subject: x",
        b"\tfolded",
        b" y",
        b"X-Empty:",
        b"From mbox-line",
        b"bad header",
        b"",
    ]
    head = b"\r\n".join(rng.choice(heads) for _ in range(rng.randrange(0, 6)))
    sep = rng.choice([b"\r\n\r\n", b"\n\n", b"\r\n", b""])
    return head + sep + _random_body(rng)


def test_the_message_parse_is_dkimpys() -> None:
    rng = random.Random(5322)
    messages = [MESSAGE, b"\r\nbody", b"To: x\r\n\r\n", b"To: x", b""]
    messages += [_random_message(rng) for _ in range(5000)]

    def parsed(parse: Callable[[bytes], object], message: bytes) -> object:
        try:
            return parse(message)
        except Exception as exc:  # both must fail alike, where dkimpy fails
            return type(exc)

    wrong = [m for m in messages if parsed(dkim.parse_message, m) != parsed(dkimpy.rfc822_parse, m)]
    assert wrong == []


def test_the_header_canonicalization_is_dkimpys() -> None:
    rng = random.Random(2045)
    relaxed = dkimpy.canonicalization.CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    pieces = [b"a", b"B", b" ", b"  ", b"\t", b"\r\n", b"\r\n ", b"\n", b"\r", b":"]

    def header() -> list[bytes]:
        name = rng.choice([b"Subject", b"TO", b"x-Tag ", b"From\t"])
        return [name, b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 20)))]

    header_lists = [dkim.parse_message(MESSAGE)[0]]
    header_lists += [[header() for _ in range(rng.randrange(0, 4))] for _ in range(3000)]
    wrong = [
        h for h in header_lists if dkim.canonical_headers(h) != relaxed.canonicalize_headers(h)
    ]
    assert wrong == []
