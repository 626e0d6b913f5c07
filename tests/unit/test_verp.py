"""domain/verp.py: signed VERP and unsubscribe tokens; forged, cut or altered ones read as None."""

import pytest

from iep_appliance.domain import verp

KEY = b"k" * 32
MID = "01936f4e-8a2b-7c3d-9e4f-5a6b7c8d9e0f"


def test_a_bounce_token_round_trips_and_fits_a_local_part() -> None:
    address = verp.bounce_address(KEY, MID, "bounces.iep.test")
    local = address.split("@")[0]

    assert len(local) <= 64 and local == local.lower()
    assert verp.classify_rcpt(address.upper(), "bounces.iep.test") == (
        "bounce",
        local.removeprefix("bounce+"),
    )
    assert verp.read_bounce_token(KEY, local.removeprefix("bounce+").upper()) == MID


def test_an_unsubscribe_token_names_the_message_and_recipient() -> None:
    token = verp.unsubscribe_token(KEY, MID, 2)

    assert verp.read_unsubscribe_token(KEY, token) == (MID, 2)
    assert verp.read_bounce_token(KEY, token) is None  # not a bounce token


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-1] + ("a" if t[-1] != "a" else "b"),
        lambda t: t[:-2],
        lambda t: t + "aa",
        lambda t: "",
        lambda t: "!" * len(t),
    ],
)
def test_an_altered_token_reads_as_nothing(mutate) -> None:
    token = verp.bounce_token(KEY, MID)

    assert verp.read_bounce_token(KEY, mutate(token)) is None


def test_another_key_does_not_open_a_token() -> None:
    assert verp.read_bounce_token(b"x" * 32, verp.bounce_token(KEY, MID)) is None


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("fbl@bounces.iep.test", ("fbl", "")),
        ("<FBL@Bounces.IEP.test>", ("fbl", "")),
        ("unsubscribe+abc@bounces.iep.test", ("unsubscribe", "abc")),
        ("postmaster@bounces.iep.test", None),
        ("bounce+abc@other.test", None),
        ("fbl@bounces.iep.test.evil", None),
    ],
)
def test_the_listener_takes_only_its_addresses(address: str, expected: object) -> None:
    assert verp.classify_rcpt(address, "bounces.iep.test") == expected
