"""Sender domains (DESIGN §10.3): their DKIM keys, the DNS records to publish, and the verdict
of a DNS check. Pure: what DNS answered comes in as values; the resolver lives in services.

A domain is `verified` when its SPF, DKIM and DMARC records are as published (the return-path
record, when a bounce domain is configured, is reported but not required); `failed` when DNS
answered and one of them is missing or different; a check that could not conclude (timeout,
SERVFAIL) keeps the earlier status and says why.
"""

from typing import Literal

import msgspec

from iep_appliance.domain.dkim import txt_record

DomainStatus = Literal["pending", "verified", "failed"]
SELECTORS = ("iep1", "iep2")  # rotation alternates between the two (RFC 6376 §3.1)
# A tenant's request for a domain: added (pending), listed already by it, taken by another.
DomainClaim = Literal["added", "listed", "taken"]


class DkimKeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    domain: str
    selector: str
    algorithm: str  # "rsa" | "ed25519"
    private_key: bytes  # sealed under the master key
    public_key: str  # the p= value
    state: str  # "active" | "next" | "retired"
    created_at: str
    activated_at: str | None = None


class DnsRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One record to publish, with what the last check found."""

    type: str  # "TXT" | "MX"
    name: str
    value: str
    purpose: str  # "spf" | "dkim" | "dmarc" | "return_path"
    status: str = "pending"  # | "verified" | "missing" | "mismatch" | "error"
    found: str | None = None
    required: bool = True  # a rotation's next DKIM key and the return path are not


class DomainCheck(msgspec.Struct, frozen=True, kw_only=True):
    domain: str
    status: str = "pending"
    records: tuple[DnsRecord, ...] = ()
    reason: str | None = None
    verified_at: str | None = None
    last_checked_at: str | None = None


class Lookup(msgspec.Struct, frozen=True, kw_only=True):
    """What DNS answered for one name: the records (TXT strings joined, or MX hosts), or an
    `error` ("timeout", "SERVFAIL …") when it gave no definite answer; NXDOMAIN is `values=()`."""

    values: tuple[str, ...] = ()
    error: str | None = None


def parse_nameserver(entry: str) -> tuple[str, int]:
    """'HOST' or 'HOST:PORT' ('[v6]:PORT' for IPv6 with a port). Raises ValueError."""
    entry = entry.strip()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    else:
        host, port = entry, "53"
    number = int(port) if port.isdigit() else 0
    if not host or not 0 < number < 65536:
        raise ValueError(f"not HOST or HOST:PORT: {entry!r}")
    return host, number


def next_selector(keys: list[DkimKeyRecord]) -> str:
    """The selector a rotation uses: the one the active key does not hold."""
    active = next((k.selector for k in keys if k.state == "active"), None)
    if active is None:
        return SELECTORS[0]
    return SELECTORS[1] if active == SELECTORS[0] else SELECTORS[0]


def records_to_publish(
    domain: str,
    keys: list[DkimKeyRecord],
    spf_mechanism: str,
    bounce_domain: str,
    mx_host: str,
) -> list[DnsRecord]:
    """SPF, one DKIM TXT per published key (active and next), DMARC, and the bounce domain's MX."""
    out = [DnsRecord(type="TXT", name=domain, value=f"v=spf1 {spf_mechanism} ~all", purpose="spf")]
    for key in sorted(keys, key=lambda k: (k.state != "active", k.selector)):
        if key.state in ("active", "next"):
            out.append(
                DnsRecord(
                    type="TXT",
                    name=f"{key.selector}._domainkey.{domain}",
                    value=txt_record(key.algorithm, key.public_key),
                    purpose="dkim",
                    required=key.state == "active",
                )
            )
    out.append(
        DnsRecord(
            type="TXT",
            name=f"_dmarc.{domain}",
            value=f"v=DMARC1; p=none; rua=mailto:dmarc@{domain}",
            purpose="dmarc",
        )
    )
    if bounce_domain:
        out.append(
            DnsRecord(
                type="MX", name=bounce_domain, value=mx_host, purpose="return_path", required=False
            )
        )
    return out


def _tags(value: str) -> dict[str, str]:
    out = {}
    for part in value.split(";"):
        name, sep, tag = part.strip().partition("=")
        if sep:
            out[name.strip().lower()] = "".join(tag.split())
    return out


def _judge(record: DnsRecord, lookup: Lookup) -> DnsRecord:
    if lookup.error:
        return msgspec.structs.replace(record, status="error", found=lookup.error)
    values = lookup.values
    if record.purpose == "spf":
        found = [v for v in values if v.lower().startswith("v=spf1")]
        mechanism = record.value.split()[1].lower()
        ok = any(mechanism in v.lower().split() for v in found)
    elif record.purpose == "dkim":
        found = [v for v in values if "p=" in v]
        want = _tags(record.value).get("p")
        ok = any(_tags(v).get("p") == want for v in found)
    elif record.purpose == "dmarc":
        found = [v for v in values if v.replace(" ", "").upper().startswith("V=DMARC1")]
        ok = bool(found) and "p" in _tags(found[0])
    else:  # return_path: an MX for the bounce domain pointing at this host
        found = list(values)
        want = record.value.rstrip(".").lower()
        ok = any(v.rstrip(".").lower() == want for v in found)
    if ok:
        return msgspec.structs.replace(record, status="verified", found=None)
    if not found:
        return msgspec.structs.replace(record, status="missing", found=None)
    return msgspec.structs.replace(record, status="mismatch", found=found[0][:300])


def judge(
    previous: DomainCheck, records: list[DnsRecord], lookups: dict[str, Lookup], now: str
) -> DomainCheck:
    """The new check of a domain from what DNS answered for each record's name (`lookups`,
    keyed by "TYPE name")."""
    judged = tuple(_judge(r, lookups.get(f"{r.type} {r.name}", Lookup())) for r in records)
    required = [r for r in judged if r.required]
    errors = [r for r in required if r.status == "error"]
    if errors:  # no definite answer: keep the status, say why
        reason = "; ".join(f"{r.name}: {r.found}" for r in errors)
        return msgspec.structs.replace(previous, records=judged, reason=reason, last_checked_at=now)
    if all(r.status == "verified" for r in required):
        return DomainCheck(
            domain=previous.domain,
            status="verified",
            records=judged,
            verified_at=previous.verified_at or now,
            last_checked_at=now,
        )
    wrong = [f"{r.purpose} {r.status}" for r in required if r.status != "verified"]
    return DomainCheck(
        domain=previous.domain,
        status="failed",
        records=judged,
        reason=", ".join(wrong),
        verified_at=previous.verified_at,
        last_checked_at=now,
    )
