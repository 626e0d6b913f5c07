"""The SSRF guard's pure rules (`domain/netaddr.py`): URL parsing and address classification.

Resolving names and pinning the connection are covered in tests/integration/test_webhooks.py.
"""

import ipaddress

import pytest

from iep_appliance.domain.netaddr import (
    UrlRefused,
    blocked_reason,
    parse_ip_literal,
    parse_ipv4_loose,
    parse_webhook_url,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),  # one decimal number
        ("0x7f000001", "127.0.0.1"),  # one hex number
        ("0x7f.1", "127.0.0.1"),  # hex, two parts
        ("0X7F.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("017700000001", "127.0.0.1"),  # one octal number
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("10.0x10.1", "10.16.0.1"),
        ("0", "0.0.0.0"),
        ("4294967295", "255.255.255.255"),
        ("169.254.43518", "169.254.169.254"),
    ],
)
def test_ipv4_in_any_inet_aton_notation_is_read_as_the_resolver_reads_it(
    text: str, expected: str
) -> None:
    assert parse_ipv4_loose(text) == ipaddress.IPv4Address(expected)


@pytest.mark.parametrize(
    "text",
    ["", "example.com", "1.2.3.4.5", "256.0.0.1", "4294967296", "08.0.0.1", "0x", "1..2", "-1"],
)
def test_names_and_out_of_range_numbers_are_not_ipv4(text: str) -> None:
    assert parse_ipv4_loose(text) is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.255", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("192.0.0.192", "cloud metadata"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved (documentation)"),
        ("2001:db8::1", "reserved (documentation)"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
        ("::127.0.0.1", "reserved"),  # deprecated IPv4-compatible
        ("2001:0:4136:e378::1", "reserved (Teredo)"),
    ],
)
def test_non_public_addresses_are_blocked_with_their_reason(address: str, reason: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address",
    ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"],
)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "host", "port", "literal"),
    [
        ("https://hooks.example.com/iep?x=1", "hooks.example.com", 443, None),
        ("http://Hooks.Example.COM:8080/a", "hooks.example.com", 8080, None),
        ("http://hooks.example.com./a", "hooks.example.com", 80, None),
        ("http://bücher.example/hook", "xn--bcher-kva.example", 80, None),
        ("http://2130706433/", "2130706433", 80, "127.0.0.1"),
        ("http://0x7f.1:9/", "0x7f.1", 9, "127.0.0.1"),
        ("http://[::ffff:127.0.0.1]:8080/", "::ffff:127.0.0.1", 8080, "::ffff:7f00:1"),
        ("HTTPS://[2606:4700:4700::1111]/", "2606:4700:4700::1111", 443, "2606:4700:4700::1111"),
    ],
)
def test_webhook_url_parts_and_ip_literals(
    url: str, host: str, port: int, literal: str | None
) -> None:
    parsed = parse_webhook_url(url)
    assert (parsed.host, parsed.port) == (host, port)
    assert parsed.literal == (ipaddress.ip_address(literal) if literal else None)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://example.com/", "only http and https"),
        ("example.com/hook", "only http and https"),
        ("http:///hook", "must name a host"),
        ("http://./hook", "must name a host"),
        ("http://user:pw@example.com/", "credentials"),
        ("http://example.com@127.0.0.1/", "credentials"),
        ("http://example.com:99999/", "invalid port"),
        ("http://[fe80::1%25eth0]/", "zone"),
        ("http://999.1.1.1/", "invalid IPv4"),
        ("http://1.2.3.4.5/", "invalid IPv4"),
        ("http://exa mple.com/", "spaces"),
        ("http://example.com\\@127.0.0.1/", "backslashes"),
        ("http://example.com/\r\nX: y", "control characters"),
        ("", "characters"),
        ("http://example.com/" + "a" * 2100, "characters"),
    ],
)
def test_unusable_webhook_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(UrlRefused, match=reason):
        parse_webhook_url(url)


def test_ip_literal_of_a_name_is_none() -> None:
    assert parse_ip_literal("localhost") is None
    assert parse_ip_literal("::1") == ipaddress.IPv6Address("::1")
