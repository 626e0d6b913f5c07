"""What a JSON body must be before decoding (domain/json_guard.py), and every field error of
a decodable body at once (domain/field_errors.py)."""

from datetime import UTC, datetime

import pytest

from iep_appliance.domain.field_errors import send_errors, type_errors
from iep_appliance.domain.json_guard import MAX_DEPTH, check_body, depth_of, nul_paths
from iep_appliance.domain.webhooks import WebhookCreate

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"t": "{{#each x}}[[[[{{/each}}"}', 1),  # brackets in strings are text
        (b'{"t": "a\\"[[["}', 1),  # an escaped quote does not end the string
        (b"[" * 70 + b"]" * 70, 70),
    ],
)
def test_depth_counts_structure_only(text: bytes, depth: int) -> None:
    assert depth_of(text) == depth


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"a": 1}', None),
        (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, None),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), 400),
        (b'{"s": "' + b"{" * 500 + b'"}', None),  # many braces, all in a string
        (b'{"s": "\xff"}', 400),
        (b'{"s": "a\\u0000"}', 422),
        (b'{"s": "a\\\\u0000"}', None),  # a backslash, then the text u0000
        (b'{"s": "a\\u0000', None),  # malformed: the decoder behind names it
        (b"not json", None),
    ],
)
def test_check_body(body: bytes, status: int | None) -> None:
    refused = check_body(body)
    assert (refused.status if refused else None) == status


def test_nul_paths_name_every_string_and_key() -> None:
    value = {"a": "x\x00", "b": [1, "ok", {"c": "\x00"}], "k\x00": 1, "d": {"e": "fine"}}
    assert nul_paths(value) == ["a", "b[2].c", "k\\u0000"]


def test_type_errors_name_missing_unknown_and_mistyped_members() -> None:
    found = type_errors({"events": "all", "bogus": 1}, WebhookCreate)
    assert sorted(e.path for e in found) == ["bogus", "events", "url"]
    assert [e.path for e in type_errors([], WebhookCreate)] == ["body"]


def test_send_errors_add_the_rules_for_members_that_decoded() -> None:
    found = send_errors(
        {
            "to": ["ada@example.org", 5],
            "from": "noreply@example.com",
            "subject": 7,
            "htmlBody": "{{#if}}",
            "cc": ["nope"],
        },
        NOW,
    )
    assert sorted(e.path for e in found) == ["cc[0]", "htmlBody", "subject", "to[1]"]


def test_handlebars_braces_are_text_and_do_not_hide_real_nesting() -> None:
    shallow = b'{"htmlBody": "' + b"<p>{{name}} {{{raw}}}</p>" * 40 + b'", "to": ["a@x.com"]}'
    assert check_body(shallow) is None
    deep = b'{"a":' * 70 + b'"{{x}}"' + b"}" * 70
    refused = check_body(deep)
    assert refused is not None and refused.status == 400
