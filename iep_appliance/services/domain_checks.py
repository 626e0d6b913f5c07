"""DNS verification of sender domains (DESIGN §10.3): the records to publish, checked with
dnspython against `[dns] nameservers`, on demand and on a housekeeping tick.

A check reads every record's name, lets `domain.sender_domains.judge` decide, and saves the
result. A verified domain makes a tenant's pending entry usable; a rotated DKIM key whose TXT
record DNS now shows starts signing. Timeouts and SERVFAIL keep the status and record why.
"""

import logging
from collections.abc import Callable
from datetime import timedelta

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
import msgspec

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.errors import NotFound, ValidationFailed, or_not_found
from iep_appliance.domain.sender_domains import (
    DkimKeyRecord,
    DnsRecord,
    DomainCheck,
    Lookup,
    judge,
    parse_nameserver,
    records_to_publish,
)
from iep_appliance.logs import event
from iep_appliance.services.dkim_keys import DkimKeyService
from iep_appliance.services.tenants import check_domain
from iep_appliance.store.base import DeliverabilityStore

log = logging.getLogger("iep.domains")


class DomainDetail(msgspec.Struct, frozen=True, kw_only=True):
    domain: str
    status: str
    dkim: DkimKeyRecord | None
    next_dkim: DkimKeyRecord | None
    records: tuple[DnsRecord, ...]
    reason: str | None
    verified_at: str | None
    last_checked_at: str | None


class Resolver:
    """One DNS question at a time, as a `Lookup` value (never raises for a DNS failure)."""

    def __init__(self, nameservers: list[str], timeout: float) -> None:
        self._resolver = dns.asyncresolver.Resolver(configure=not nameservers)
        if nameservers:
            self._resolver.nameservers = [
                dns.nameserver.Do53Nameserver(*parse_nameserver(n)) for n in nameservers
            ]
        self._resolver.lifetime = timeout
        self._resolver.timeout = timeout
        self.timeout = timeout

    async def lookup(self, rtype: str, name: str) -> Lookup:
        try:
            answer = await self._resolver.resolve(
                name, dns.rdatatype.from_text(rtype), lifetime=self.timeout, search=False
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return Lookup()
        except dns.exception.Timeout:
            return Lookup(error="DNS timeout")
        except dns.resolver.NoNameservers:
            return Lookup(error="SERVFAIL (no nameserver answered)")
        except dns.exception.DNSException as exc:
            return Lookup(error=f"DNS error: {type(exc).__name__}")
        if rtype == "TXT":
            values = tuple(b"".join(r.strings).decode("utf-8", "replace") for r in answer)
        else:
            values = tuple(str(r.exchange).rstrip(".") for r in answer)
        return Lookup(values=values)


class DomainCheckService:
    def __init__(
        self,
        store: DeliverabilityStore,
        dkim_keys: DkimKeyService,
        resolver: Resolver,
        clock: Clock,
        *,
        spf_mechanism: str,
        bounce_domain: str,
        mx_host: str,
        interval_seconds: float,
        on_verified: Callable[[str], None],
    ) -> None:
        self.store = store
        self.dkim_keys = dkim_keys
        self.resolver = resolver
        self.clock = clock
        self.spf_mechanism = spf_mechanism
        self.bounce_domain = bounce_domain
        self.mx_host = mx_host
        self.interval = interval_seconds
        self.on_verified = on_verified

    async def _listed(self, tenant_id: str, domain: str) -> tuple[str, str]:
        """(name, status in the tenant's list). Raises NotFound for a domain it does not list."""
        try:
            name = check_domain(domain)
        except ValidationFailed:
            raise NotFound("Domain not found") from None
        status = or_not_found(
            await self.store.listed_domain_status(tenant_id, name), "Domain not found"
        )
        return name, status

    async def _records(self, domain: str) -> tuple[list[DkimKeyRecord], list[DnsRecord]]:
        keys = await self.store.dkim_keys(domain)
        return keys, records_to_publish(
            domain, keys, self.spf_mechanism, self.bounce_domain, self.mx_host
        )

    async def detail(self, tenant_id: str, domain: str) -> DomainDetail:
        name, listed = await self._listed(tenant_id, domain)
        return await self._detail(name, listed)

    async def _detail(self, name: str, listed: str) -> DomainDetail:
        keys, records = await self._records(name)
        check = await self.store.domain_check(name) or DomainCheck(domain=name)
        found = {(r.purpose, r.name): r for r in check.records}
        shown = tuple(
            msgspec.structs.replace(
                r,
                status=found[(r.purpose, r.name)].status,
                found=found[(r.purpose, r.name)].found,
            )
            if (r.purpose, r.name) in found and found[(r.purpose, r.name)].value == r.value
            else r
            for r in records
        )
        status = check.status
        if status == "pending" and listed == "verified":
            status = "verified"  # assigned by the operator
        return DomainDetail(
            domain=name,
            status=status,
            dkim=next((k for k in keys if k.state == "active"), None),
            next_dkim=next((k for k in keys if k.state == "next"), None),
            records=shown,
            reason=check.reason,
            verified_at=check.verified_at,
            last_checked_at=check.last_checked_at,
        )

    async def verify(self, tenant_id: str, domain: str) -> DomainDetail:
        """Check DNS now; the answer shows the result (a DNS failure is in `reason`)."""
        name, _ = await self._listed(tenant_id, domain)
        await self.dkim_keys.ensure_key(name)
        await self.check(name)
        _, listed = await self._listed(tenant_id, name)
        return await self._detail(name, listed)

    async def check(self, domain: str) -> DomainCheck:
        keys, records = await self._records(domain)
        lookups: dict[str, Lookup] = {}
        for record in records:
            key = f"{record.type} {record.name}"
            if key not in lookups:
                lookups[key] = await self.resolver.lookup(record.type, record.name)
        previous = await self.store.domain_check(domain) or DomainCheck(domain=domain)
        now = ids.iso(self.clock.now())
        result = judge(previous, records, lookups, now)
        await self.store.save_domain_check(result)
        await self._promote_published_keys(domain, keys, result)
        if result.status == "verified":
            for tenant_id in await self.store.mark_domain_verified(domain):
                event(log, "domain.verified", domain=domain, tenant_id=tenant_id)
                self.on_verified(tenant_id)
        event(log, "domain.checked", domain=domain, status=result.status, reason=result.reason)
        return result

    async def _promote_published_keys(
        self, domain: str, keys: list[DkimKeyRecord], result: DomainCheck
    ) -> None:
        for key in keys:
            if key.state != "next":
                continue
            name = f"{key.selector}._domainkey.{domain}"
            if any(r.name == name and r.status == "verified" for r in result.records):
                await self.dkim_keys.activate(domain, key.selector)

    async def run_due(self, limit: int = 20) -> int:
        """Recheck domains not checked within the interval (the housekeeping tick)."""
        before = ids.iso(self.clock.now() - timedelta(seconds=self.interval))
        due = await self.store.domains_due_for_check(before, limit)
        for domain in due:
            try:
                await self.check(domain)
            except Exception:
                log.exception("domain.check_failed", extra={"fields": {"domain": domain}})
        return len(due)
