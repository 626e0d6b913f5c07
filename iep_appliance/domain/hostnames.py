"""The name IEP gives itself: SMTP EHLO and the right side of Message-ID (DESIGN §10.1).

`[delivery] hostname` when set; else the machine's FQDN, unless that is no name at all for the
outside world (no dot, or a localhost name), when the sender's domain stands in for it.
"""

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def own_hostname(configured: str, fqdn: str) -> str:
    """The configured name, or a usable `fqdn`; "" when the sender's domain must stand in."""
    if configured.strip():
        return _ascii(configured.strip().rstrip("."))
    name = fqdn.strip().rstrip(".").lower()
    if "." not in name or name in _LOCAL_NAMES or name.endswith(".localhost"):
        return ""
    return _ascii(name)


def name_for(own: str, sender: str) -> str:
    """`own` (from own_hostname) or, when that is "", the domain of the address `sender`."""
    if own:
        return own
    domain = sender.rpartition("@")[2].strip().rstrip(".")
    return _ascii(domain) if domain else "localhost"


def _ascii(name: str) -> str:
    """An internationalized name in its ASCII (A-label) form: EHLO and Message-ID are ASCII."""
    if name.isascii():
        return name.lower()
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name.encode("ascii", "replace").decode("ascii")
