"""domain/batches.py: batch validation names `recipients[i]…`, keeps the single send's verdict
order, merges variables, and its fast address check agrees with the full validator."""

import random
import string
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from iep_appliance.domain.batches import (
    MAX_ERRORS,
    BatchCheck,
    check_recipients,
    check_shared,
    normalize_fast,
    verdict,
)
from iep_appliance.domain.errors import PayloadTooLarge, SenderNotAllowed, ValidationFailed
from iep_appliance.domain.models import AttachmentLimits, BatchRequest
from iep_appliance.domain.validation import normalize_address

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DOMAINS = frozenset({"example.com"})


def request(recipients: list[dict[str, Any]], **fields: Any) -> BatchRequest:
    body = {
        "from": {"email": "news@example.com"},
        "subject": "Hi {{name}}",
        "htmlBody": "<p>{{name}} {{code}}</p>",
        "variables": {"name": "friend", "code": "none"},
        "recipients": recipients,
        **fields,
    }
    return msgspec.convert(body, BatchRequest)


def check(req: BatchRequest, limits: AttachmentLimits | None = None) -> list[Any]:
    c = BatchCheck()
    shared = check_shared(req, limits or AttachmentLimits(), NOW, c)
    valid = check_recipients(req.recipients, 0, req.variables, c)
    verdict(shared, c, DOMAINS)
    return valid


def test_recipient_variables_merge_over_the_shared_ones() -> None:
    valid = check(
        request([{"to": ["a@example.org"], "variables": {"name": "Ada"}}, {"to": ["b@x.org"]}])
    )
    assert valid[0].variables == {"name": "Ada", "code": "none"}
    assert valid[1].variables == {"name": "friend", "code": "none"}


def test_errors_name_the_recipient_index_and_field() -> None:
    with pytest.raises(ValidationFailed) as err:
        check(
            request(
                [
                    {"to": ["ok@example.org"]},
                    {"to": ["ok@example.org", "nope"]},
                    {"to": [], "bcc": ["bad@"]},
                ]
            )
        )
    assert [e.path for e in err.value.errors] == [
        "recipients[1].to[1]",
        "recipients[2].to",
        "recipients[2].bcc[0]",
    ]


def test_a_batch_of_bad_addresses_lists_the_first_errors_and_says_there_are_more() -> None:
    with pytest.raises(ValidationFailed) as err:
        check(request([{"to": ["bad"]}] * (MAX_ERRORS + 50)))
    paths = [e.path for e in err.value.errors]
    assert len(paths) == MAX_ERRORS + 1
    assert paths[0] == "recipients[0].to[0]" and paths[-1] == "recipients"


def test_shared_fields_are_checked_once_and_keep_the_single_send_order() -> None:
    with pytest.raises(ValidationFailed) as err:
        check(request([{"to": ["a@example.org"]}], htmlBody="{{#if}}", subject=" "))
    assert {e.path for e in err.value.errors} == {"htmlBody", "subject"}
    big = {"filename": "a.pdf", "content": "QUJD" * 400, "contentType": "application/pdf"}
    with pytest.raises(PayloadTooLarge):
        check(
            request([{"to": ["a@example.org"]}], attachments=[big]),
            AttachmentLimits(max_file_bytes=100),
        )
    with pytest.raises(SenderNotAllowed):
        check(request([{"to": ["a@example.org"]}], **{"from": "x@elsewhere.org"}))


@pytest.mark.parametrize("n", [0, 10_001])
def test_recipient_count_is_1_to_10000(n: int) -> None:
    with pytest.raises(ValidationFailed) as err:
        check(request([{"to": ["a@example.org"]}] * n))
    assert err.value.errors[0].path == "recipients"


def _either(fn: Any, address: str) -> tuple[str, str]:
    try:
        return ("ok", fn(address))
    except ValueError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.com",
        "Ada.Lovelace+tag@Example.COM",
        "o'brien@example.org",
        "a@b",
        "user@localhost",
        "x@example.test",
        "x@bücher.example",
        "x@xn--bcher-kva.example",
        "ünï@example.com",
        '"quoted"@example.com',
        "two..dots@example.com",
        ".lead@example.com",
        "x" * 64 + "@example.com",
        "x" * 65 + "@example.com",
        "x@" + "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".com",
        "x@example.com.",
        "x@-example.com",
        "x@exa_mple.com",
        "x@[127.0.0.1]",
        "no-at-sign",
        "a@b@example.com",
        "x@example.com\r\n",
        "",
    ],
)
def test_fast_address_check_agrees_with_the_full_validator(address: str) -> None:
    assert _either(normalize_fast, address) == _either(normalize_address, address)


def test_fast_address_check_agrees_on_random_addresses() -> None:
    rnd = random.Random(7)
    atext = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-.\"@ é"
    domains = ["example.com", "Mail.Example.org", "bücher.example", "a.b", "x.invalid", "e..c"]
    for _ in range(3000):
        local = "".join(rnd.choice(atext) for _ in range(rnd.randint(0, 70)))
        address = f"{local}@{rnd.choice(domains)}"
        assert _either(normalize_fast, address) == _either(normalize_address, address), address
