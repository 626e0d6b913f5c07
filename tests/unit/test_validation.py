"""Small parsers of domain/validation used on untrusted text."""

import pytest

from iep_appliance.domain.validation import whole_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("42", 42), ("9" * 18, int("9" * 18)), ("", None), ("²", None), ("-1", None),
     ("1.5", None), ("٣", None), ("9" * 19, None)],
)  # fmt: skip
def test_whole_number_takes_only_short_ascii_digit_strings(text: str, expected: int | None) -> None:
    assert whole_number(text) == expected


# ---- the three address forms (DESIGN §10.1) --------------------------------------------------

from iep_appliance.domain.models import Sender  # noqa: E402
from iep_appliance.domain.validation import check_addresses, split_address  # noqa: E402


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a@x.com", ("a@x.com", None)),
        ("Zoë Müller <zoe@example.net>", ("zoe@example.net", "Zoë Müller")),
        ('"Müller, Zoë" <zoe@example.net>', ("zoe@example.net", "Müller, Zoë")),
        ('"A \\"Q\\" B" <q@example.net>', ("q@example.net", 'A "Q" B')),
        ("<bare@example.net>", ("bare@example.net", None)),
        ("  Spaced   Name   < s@example.net >  ", ("s@example.net", "Spaced   Name")),
        (Sender(email="o@example.net", name="Obj"), ("o@example.net", "Obj")),
        (Sender(email="o@example.net", name=""), ("o@example.net", None)),
    ],
)
def test_split_address_takes_the_three_forms(value: object, expected: tuple) -> None:
    assert split_address(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["Name <a@x.com", "Name a@x.com>", "A <b> <c@x.com>", '"x <a@x>'])
def test_split_address_refuses_a_broken_name_addr(value: str) -> None:
    with pytest.raises(ValueError):
        split_address(value)


def test_check_addresses_collects_names_and_names_each_bad_entry() -> None:
    errors: list = []
    names: dict[str, str] = {}
    out = check_addresses(
        "to",
        [
            "Zoë Müller <Zoe@Example.NET>",
            Sender(email="bob@example.org", name="Bob"),
            "plain@example.com",
            "Bad\r\nName <x@example.com>",
            "Nobody <not-an-address>",
            Sender(email="nope", name="X"),
        ],
        errors,
        names=names,
    )
    assert out == ("Zoe@example.net", "bob@example.org", "plain@example.com")
    assert names == {"zoe@example.net": "Zoë Müller", "bob@example.org": "Bob"}
    assert [e.path for e in errors] == ["to[3]", "to[4]", "to[5]"]
