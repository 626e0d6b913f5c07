"""API keys' IP allowlists and the client address behind trusted proxies. Pure.

A key with an allowlist (v4 and v6 CIDRs) works only from an address inside one of them. The
client address is the socket peer's; `X-Forwarded-For` counts only when that peer is one of
`[server] trusted_proxies`, and then the client is the right-most hop that is not itself a
trusted proxy (the left part of the header is whatever the client wrote, so never trusted).
"""

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from iep_appliance.domain.errors import FieldError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_ENTRIES = 100


def parse_cidrs(values: Sequence[object], field: str) -> tuple[list[str], list[FieldError]]:
    """Normalised CIDRs (`10.0.0.7` → `10.0.0.7/32`), and an error naming `field[i]` for each
    entry that does not parse (host bits set count as a mistake: `10.0.0.1/8`)."""
    out: list[str] = []
    errors: list[FieldError] = []
    if len(values) > MAX_ENTRIES:
        return [], [FieldError(field, f"at most {MAX_ENTRIES} entries")]
    for i, raw in enumerate(values):
        if not isinstance(raw, str):
            errors.append(FieldError(f"{field}[{i}]", "must be a string (a CIDR)"))
            continue
        try:
            net = ipaddress.ip_network(raw.strip(), strict=True)
        except ValueError as exc:
            errors.append(FieldError(f"{field}[{i}]", f"not a CIDR ({exc})"))
            continue
        text = str(net)
        if text not in out:
            out.append(text)
    return out, errors


@lru_cache(maxsize=4096)
def _networks(allowlist: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in allowlist)


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        addr = ipaddress.ip_address(text.strip().strip("[]").split("%")[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    return addr


def allowed(allowlist: tuple[str, ...], client: str | None) -> bool:
    """Is `client` inside the allowlist? An empty list allows every address; an unknown client
    address (None, unparsable) is allowed by no list."""
    if not allowlist:
        return True
    addr = _address(client)
    if addr is None:
        return False
    return any(addr.version == net.version and addr in net for net in _networks(allowlist))


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[str, ...]) -> str:
    """The request's client address (see the module docstring); '' when unknown."""
    peer_text = (peer or "").strip()
    if not forwarded_for or not trusted or not allowed(trusted, peer_text):
        return str(_address(peer_text) or peer_text)
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if _address(hop) is None:
            return hop  # not an address: report it as is; no allowlist will match it
        if not allowed(trusted, hop):
            return str(_address(hop))
    return str(_address(hops[0])) if hops else str(_address(peer_text) or peer_text)
