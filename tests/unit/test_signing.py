import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from iep_appliance.domain.signing import make_secret, secret_key, sign, verify_iep_signature

SECRET_A = make_secret(bytes(range(24)))
SECRET_B = make_secret(bytes(range(100, 132)))
BODY = b'{"event":"message.sent","messageId":"msg_1","data":{"subject":"Gr\xc3\xbc\xc3\x9fe"}}'


@pytest.mark.parametrize("size", [24, 28, 32])
def test_make_secret_is_whsec_base64_of_the_random_bytes(size: int) -> None:
    raw = bytes(range(size))
    secret = make_secret(raw)
    assert secret.startswith("whsec_")
    assert base64.b64decode(secret.removeprefix("whsec_")) == raw
    assert secret_key(secret) == raw


@pytest.mark.parametrize("size", [0, 16, 23, 33])
def test_make_secret_refuses_too_little_or_too_much_randomness(size: int) -> None:
    with pytest.raises(ValueError):
        make_secret(b"x" * size)


@pytest.mark.parametrize("secret", ["whsec_", "whsec_***", "whsec_a"])
def test_secret_key_rejects_malformed_secrets(secret: str) -> None:
    with pytest.raises(ValueError):
        secret_key(secret)


def test_iep_signature_is_hex_hmac_of_the_body_keyed_by_the_whole_secret() -> None:
    headers = sign([SECRET_A], "evt_1", 1_700_000_000, BODY)
    expected = hmac.new(SECRET_A.encode(), BODY, hashlib.sha256).hexdigest()
    assert headers["x-iep-signature"] == f"sha256={expected}"


def test_headers_carry_id_and_timestamp() -> None:
    headers = sign([SECRET_A], "evt_1", 1_700_000_000, BODY)
    assert (headers["webhook-id"], headers["webhook-timestamp"]) == ("evt_1", "1700000000")


def test_rotation_signs_with_every_secret() -> None:
    headers = sign([SECRET_A, SECRET_B], "evt_1", 1_700_000_000, BODY)
    assert headers["x-iep-signature"].count("sha256=") == 2
    assert headers["x-iep-signature"].count(",") == 1
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert all(s.startswith("v1,") for s in headers["webhook-signature"].split(" "))


@pytest.mark.parametrize("secret", [SECRET_A, SECRET_B])
def test_verify_iep_signature_accepts_each_rotated_secret(secret: str) -> None:
    headers = sign([SECRET_A, SECRET_B], "evt_1", 1_700_000_000, BODY)
    assert verify_iep_signature(secret, BODY, headers["x-iep-signature"]) is True


@pytest.mark.parametrize(
    ("secret", "body", "header_of"),
    [
        (SECRET_A, BODY + b" ", SECRET_A),
        (SECRET_B, BODY, SECRET_A),
        (SECRET_A, BODY, None),
    ],
)
def test_verify_iep_signature_rejects_tampering_or_the_wrong_secret(
    secret: str, body: bytes, header_of: str | None
) -> None:
    header = sign([header_of], "evt_1", 1, BODY)["x-iep-signature"] if header_of else "garbage"
    assert verify_iep_signature(secret, body, header) is False


@pytest.mark.parametrize("header", ["", "sha256=", "md5=abc", "sha256=zz\u00e9", ",,,"])
def test_verify_iep_signature_survives_malformed_headers(header: str) -> None:
    assert verify_iep_signature(SECRET_A, BODY, header) is False


@pytest.mark.parametrize("secret", [SECRET_A, SECRET_B])
def test_standardwebhooks_library_verifies_each_secret(secret: str) -> None:
    now = int(time.time())
    headers = sign([SECRET_A, SECRET_B], "evt_1", now, BODY)
    Webhook(secret).verify(BODY, headers, json_parse=False)


def test_standardwebhooks_library_rejects_a_tampered_body() -> None:
    headers = sign([SECRET_A], "evt_1", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET_A).verify(BODY.replace(b"msg_1", b"msg_2"), headers, json_parse=False)


def test_standardwebhooks_library_rejects_another_secret() -> None:
    headers = sign([SECRET_A], "evt_1", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET_B).verify(BODY, headers, json_parse=False)


def test_signing_without_secrets_is_an_error() -> None:
    with pytest.raises(ValueError):
        sign([], "evt_1", 1, BODY)
