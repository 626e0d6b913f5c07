"""domain/sender_domains.py: the records to publish and the verdict of a DNS check, as tables."""

import pytest

from iep_appliance.domain.sender_domains import (
    DkimKeyRecord,
    DomainCheck,
    Lookup,
    judge,
    next_selector,
    parse_nameserver,
    records_to_publish,
)

NOW = "2026-01-01T00:00:00Z"


def key(selector: str, state: str, public: str = "PUB") -> DkimKeyRecord:
    return DkimKeyRecord(
        domain="example.com",
        selector=selector,
        algorithm="rsa",
        private_key=b"",
        public_key=public,
        state=state,
        created_at=NOW,
    )


RECORDS = records_to_publish(
    "example.com", [key("iep1", "active")], "include:_spf.iep.test", "bounce.example.com", "mx.iep"
)
GOOD = {
    "TXT example.com": Lookup(values=("v=spf1 include:_spf.iep.test ~all",)),
    "TXT iep1._domainkey.example.com": Lookup(values=("v=DKIM1; k=rsa; p=PUB",)),
    "TXT _dmarc.example.com": Lookup(values=("v=DMARC1; p=none",)),
    "MX bounce.example.com": Lookup(values=("mx.iep",)),
}


def test_records_cover_spf_dkim_dmarc_and_the_return_path() -> None:
    assert [(r.type, r.name, r.purpose) for r in RECORDS] == [
        ("TXT", "example.com", "spf"),
        ("TXT", "iep1._domainkey.example.com", "dkim"),
        ("TXT", "_dmarc.example.com", "dmarc"),
        ("MX", "bounce.example.com", "return_path"),
    ]
    assert RECORDS[1].value == "v=DKIM1; k=rsa; p=PUB"
    assert "p=none" in RECORDS[2].value


@pytest.mark.parametrize(
    ("changes", "status", "reason_part"),
    [
        ({}, "verified", None),
        ({"MX bounce.example.com": Lookup()}, "verified", None),  # return path: advisory
        ({"TXT example.com": Lookup()}, "failed", "spf missing"),
        ({"TXT iep1._domainkey.example.com": Lookup(values=("v=DKIM1; p=OTHER",))}, "failed",
         "dkim mismatch"),
        ({"TXT _dmarc.example.com": Lookup(values=("hello",))}, "failed", "dmarc missing"),
        ({"TXT example.com": Lookup(error="DNS timeout")}, "pending", "DNS timeout"),
        ({"TXT _dmarc.example.com": Lookup(error="SERVFAIL (no nameserver answered)")},
         "pending", "SERVFAIL"),
    ],
)  # fmt: skip
def test_judge(changes: dict[str, Lookup], status: str, reason_part: str | None) -> None:
    result = judge(DomainCheck(domain="example.com"), RECORDS, {**GOOD, **changes}, NOW)

    assert result.status == status
    assert result.last_checked_at == NOW
    if reason_part is None:
        assert result.reason is None
    else:
        assert reason_part in (result.reason or "")


def test_a_dns_failure_keeps_a_verified_status() -> None:
    verified = judge(DomainCheck(domain="example.com"), RECORDS, GOOD, NOW)
    later = judge(verified, RECORDS, {**GOOD, "TXT example.com": Lookup(error="DNS timeout")}, NOW)

    assert later.status == "verified"
    assert later.verified_at == NOW
    assert "timeout" in (later.reason or "")


def test_a_rotations_unpublished_key_does_not_fail_the_domain() -> None:
    records = records_to_publish(
        "example.com",
        [key("iep1", "active"), key("iep2", "next", "NEW")],
        "include:_spf.iep.test",
        "",
        "",
    )

    result = judge(DomainCheck(domain="example.com"), records, GOOD, NOW)

    assert result.status == "verified"
    assert [r.status for r in result.records if r.purpose == "dkim"] == ["verified", "missing"]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [([], "iep1"), ([key("iep1", "active")], "iep2"), ([key("iep2", "active")], "iep1")],
)
def test_rotation_alternates_between_two_selectors(keys: list, expected: str) -> None:
    assert next_selector(keys) == expected


@pytest.mark.parametrize(
    ("entry", "expected"),
    [("127.0.0.1", ("127.0.0.1", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
     ("::1", ("::1", 53)), ("[::1]:5353", ("::1", 5353))],
)  # fmt: skip
def test_nameserver_entries(entry: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(entry) == expected


@pytest.mark.parametrize("entry", ["", "host:", "host:99999", "host:x"])
def test_bad_nameserver_entries(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_nameserver(entry)
