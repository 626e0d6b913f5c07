"""Webhook URLs and IP addresses for the SSRF guard (DESIGN §4 "SSRF guard").

`parse_webhook_url` takes a URL apart the one way the guard and the dispatcher both use, and
reads an IP literal in any notation a resolver accepts (`2130706433`, `0x7f.1`, `0177.0.0.1`,
`127.1`, `[::ffff:127.0.0.1]`). `blocked_reason` says why an address must not be reached
(loopback, private, link-local, CGNAT, unspecified, cloud metadata, multicast, reserved), or
None for a public one. Pure: resolving names is `webhooks/guard.py`'s job.
"""

import ipaddress
import re
from urllib.parse import urlsplit

import msgspec

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class UrlRefused(ValueError):
    """A webhook URL the guard will not call; `str()` says why, for the `url` field error."""


class WebhookUrl(msgspec.Struct, frozen=True):
    scheme: str  # http | https
    host: str  # lower-case, IDNA (ASCII), no brackets, no trailing dot
    port: int
    literal: IPAddress | None  # the address when the host is an IP literal in any notation


# Addresses the guard never calls, with the reason it names. Checked in order; IPv6 forms
# that embed an IPv4 address (mapped, NAT64, 6to4) are judged by that address first.
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean instance metadata
        "169.254.170.2",  # AWS ECS task metadata
        "168.63.129.16",  # Azure wire server (a public address, but a platform endpoint)
        "100.100.100.200",  # Alibaba Cloud metadata
        "192.0.0.192",  # Oracle Cloud metadata
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "fd00:ec2::23",  # AWS time sync over IPv6
    )
)
_V4_BLOCKS: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "reserved (documentation)"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "reserved (benchmarking)"),
        ("198.51.100.0/24", "reserved (documentation)"),
        ("203.0.113.0/24", "reserved (documentation)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
    )
)
_V6_BLOCKS: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), reason)
    for net, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/8", "reserved"),  # includes the deprecated IPv4-compatible ::a.b.c.d
        ("64:ff9b:1::/48", "reserved"),
        ("100::/64", "reserved (discard)"),
        ("2001::/32", "reserved (Teredo)"),
        ("2001:db8::/32", "reserved (documentation)"),
        ("2001::/23", "reserved"),
        ("3fff::/20", "reserved (documentation)"),
        ("5f00::/16", "reserved"),
        ("fc00::/7", "private"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def blocked_reason(addr: IPAddress) -> str | None:
    """Why `addr` must not be called ("loopback", "private", ...), or None when it is public."""
    if addr in _METADATA:
        return "cloud metadata"
    if isinstance(addr, ipaddress.IPv4Address):
        for net, reason in _V4_BLOCKS:
            if addr in net:
                return reason
        return None if addr.is_global else "reserved"
    embedded = _embedded_ipv4(addr)
    if embedded is not None:
        return blocked_reason(embedded)
    for net6, reason in _V6_BLOCKS:
        if addr in net6:
            return reason
    if addr not in _V6_GLOBAL_UNICAST:
        return "reserved"
    return None


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, NAT64 or 6to4 address reaches."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFF_FFFF)
    return addr.sixtofour


def parse_ipv4_loose(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address in any inet_aton notation (1-4 parts, decimal/0x hex/0 octal), or None.

    `2130706433`, `0x7f.1`, `0177.0.0.1` and `127.1` are all 127.0.0.1 to a resolver, so the
    guard must read them the same way.
    """
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        value = _inet_number(part)
        if value is None:
            return None
        values.append(value)
    *head, last = values
    if any(v > 0xFF for v in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    number = 0
    for v in head:
        number = (number << 8) | v
    number = (number << (8 * (4 - len(head)))) | last
    return ipaddress.IPv4Address(number)


def _inet_number(part: str) -> int | None:
    text = part.lower()
    try:
        if text.startswith("0x"):
            return int(text[2:], 16) if text[2:] else None
        if len(text) > 1 and text.startswith("0"):
            return int(text[1:], 8)
        return int(text, 10) if text.isdigit() else None
    except ValueError:
        return None


def parse_ip_literal(host: str) -> IPAddress | None:
    """`host` (no brackets) as an IP address in any notation, or None for a name."""
    try:
        return ipaddress.IPv6Address(host) if ":" in host else parse_ipv4_loose(host)
    except ValueError:
        return None


def parse_webhook_url(url: str) -> WebhookUrl:
    """Split a webhook URL; only http and https, no credentials, a host and a valid port.

    Raises:
        UrlRefused: with the reason, for the `url` field error.
    """
    if not url or len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"must be 1 to {MAX_URL_LENGTH} characters")
    if _BAD_CHARS.search(url):
        raise UrlRefused("must not contain spaces, control characters or backslashes")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UrlRefused("only http and https URLs are allowed")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("must not contain credentials")
    raw_host = parts.hostname or ""
    if not raw_host:
        raise UrlRefused("must name a host")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise UrlRefused("has an invalid port") from None
    if "%" in raw_host:
        raise UrlRefused("must not carry an IPv6 zone")
    host = raw_host.rstrip(".")
    if not host:
        raise UrlRefused("must name a host")
    literal = parse_ip_literal(host)
    if literal is None:
        if ":" in host:
            raise UrlRefused("has an invalid IPv6 address")
        if all(_NUMERIC_LABEL.match(label) for label in host.split(".")):
            raise UrlRefused("has an invalid IPv4 address")
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UrlRefused("has an invalid host name") from None
    return WebhookUrl(scheme=scheme, host=host, port=port, literal=literal)
