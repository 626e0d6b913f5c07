"""The audit log's pure rules: every mutating route is audited or exempt by name,
query parsing (bad ranges name the parameter), redaction of addresses; IP allowlists and the
client address behind trusted proxies."""

from pathlib import Path

import pytest

from iep_appliance.api.audit_actions import EXEMPT, RULES
from iep_appliance.domain.audit import next_cursor, parse_query, redact
from iep_appliance.domain.errors import BadRequest
from iep_appliance.domain.ip_allowlist import allowed, client_address, parse_cidrs


def mutating_routes(tmp_path: Path) -> set[tuple[str, str]]:
    from iep_appliance.app import build_app
    from iep_appliance.config import parse
    from iep_appliance.runtime import Runtime

    cfg = parse({"storage": {"path": str(tmp_path / "iep.db")}}, tmp_path, {})
    app = build_app(Runtime(cfg, deliver=False))
    found = set()
    for route in app.routes:
        for method in getattr(route, "methods", ()):
            if method in ("POST", "PUT", "PATCH", "DELETE"):
                found.add((method, route.path_format))
    return found


def test_every_mutating_route_is_audited_or_exempt(tmp_path: Path) -> None:
    routes = mutating_routes(tmp_path)
    missing = sorted(r for r in routes if r not in RULES and r not in EXEMPT)
    assert missing == [], f"add these to api/audit_actions.py RULES or EXEMPT: {missing}"
    stale = sorted(r for r in RULES if r not in routes)
    assert stale == [], f"RULES names routes that do not exist: {stale}"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
    ],
)
def test_bad_ranges_name_the_parameter(params: dict, field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_query(params, 50, None, "t1")
    assert field in [e.path for e in caught.value.errors]


def test_query_parses_dates_limits_and_cursors() -> None:
    q = parse_query({"from": "2026-01-01T00:00:00+02:00", "action": "api_key.*"}, 10, None, "t")
    assert q.since == "2025-12-31T22:00:00.000Z" and q.action == "api_key.*"
    with pytest.raises(BadRequest):
        parse_query({}, 0, None, None)
    with pytest.raises(BadRequest):
        parse_query({}, 10, "***", None)
    assert next_cursor([], 10) is None


def test_addresses_are_redacted_consistently() -> None:
    assert redact("Ada@Example.org") == redact("ada@example.org")
    assert redact("ada@example.org").startswith("sha256:")  # type: ignore[union-attr]
    assert redact("key-123") == "key-123" and redact(None) is None


def test_cidrs_parse_v4_v6_and_name_bad_entries() -> None:
    ok, errors = parse_cidrs(["192.168.1.0/24", "2001:db8::/32", "10.0.0.7"], "ipAllowlist")
    assert ok == ["192.168.1.0/24", "2001:db8::/32", "10.0.0.7/32"] and errors == []
    _, errors = parse_cidrs(["10.0.0.1/8", "nope", "1.2.3.4/33"], "ipAllowlist")
    assert [e.path for e in errors] == ["ipAllowlist[0]", "ipAllowlist[1]", "ipAllowlist[2]"]


@pytest.mark.parametrize(
    ("allowlist", "client", "expected"),
    [
        ((), "203.0.113.1", True),
        (("192.168.1.0/24",), "192.168.1.200", True),
        (("192.168.1.0/24",), "192.168.2.1", False),
        (("192.168.1.0/24",), "::ffff:192.168.1.9", True),
        (("2001:db8::/32",), "2001:db8:ffff::1", True),
        (("2001:db8::/32",), "2001:db9::1", False),
        (("192.168.1.0/24",), None, False),
        (("192.168.1.0/24",), "garbage", False),
    ],
)
def test_allowed(allowlist: tuple[str, ...], client: str | None, expected: bool) -> None:
    assert allowed(allowlist, client) is expected


def test_client_address_trusts_forwarded_for_only_from_trusted_proxies() -> None:
    trusted = ("10.0.0.0/8",)
    assert client_address("10.0.0.5", "198.51.100.7", trusted) == "198.51.100.7"
    assert client_address("203.0.113.1", "198.51.100.7", trusted) == "203.0.113.1"
    assert client_address("10.0.0.5", "1.1.1.1, 198.51.100.7, 10.0.0.9", trusted) == (
        "198.51.100.7"
    )
    assert client_address("10.0.0.5", "10.0.0.8", trusted) == "10.0.0.8"
    assert client_address("10.0.0.5", "198.51.100.7", ()) == "10.0.0.5"
