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
