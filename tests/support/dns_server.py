"""A real DNS server (dnslib) on 127.0.0.1 at a free UDP port, answering from a zone the test
edits while it runs.

    with DnsServer() as dns:
        dns.set("TXT", "iep1._domainkey.example.com", "v=DKIM1; k=rsa; p=...")
        dns.fail("example.org", "SERVFAIL")      # or "timeout": no answer at all
        ... resolve against ("127.0.0.1", dns.port) ...

Names not in the zone answer NXDOMAIN. The server runs in dnslib's own thread; the zone is
guarded by a lock. `nameserver` is the "HOST:PORT" form `[dns] nameservers` takes.
"""

import threading
from typing import Any

from dnslib import MX, QTYPE, RCODE, RR, TXT, DNSError
from dnslib.server import BaseResolver, DNSLogger, DNSServer


def _chunks(value: str) -> list[bytes]:
    data = value.encode()
    return [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]


class _Resolver(BaseResolver):
    def __init__(self, owner: "DnsServer") -> None:
        self.owner = owner

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self.owner.lock:
            self.owner.queries.append((qtype, qname))
            failure = self.owner.failures.get(qname)
            records = list(self.owner.zone.get((qtype, qname), []))
            known = any(name == qname for _, name in self.owner.zone)
        if failure == "timeout":
            raise DNSError("no answer (test)")  # dnslib sends nothing: the client times out
        if failure == "SERVFAIL":
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        for value in records:
            if qtype == "TXT":
                reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT(_chunks(value)), ttl=60))
            elif qtype == "MX":
                reply.add_answer(RR(qname, QTYPE.MX, rdata=MX(value), ttl=60))
        if not records and not known:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class DnsServer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.zone: dict[tuple[str, str], list[str]] = {}
        self.failures: dict[str, str] = {}
        self.queries: list[tuple[str, str]] = []
        self._server = DNSServer(
            _Resolver(self),
            port=0,
            address="127.0.0.1",
            tcp=False,
            logger=DNSLogger(logf=lambda *_: None),
        )

    @property
    def port(self) -> int:
        return int(self._server.server.server_address[1])

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set(self, rtype: str, name: str, *values: str) -> None:
        """Replace the `rtype` records of `name` (no values: remove them)."""
        with self.lock:
            key = (rtype.upper(), name.rstrip(".").lower())
            if values:
                self.zone[key] = list(values)
            else:
                self.zone.pop(key, None)

    def fail(self, name: str, how: str | None) -> None:
        """Answer SERVFAIL or nothing ("timeout") for `name`; None answers normally again."""
        with self.lock:
            if how is None:
                self.failures.pop(name.lower(), None)
            else:
                self.failures[name.lower()] = how

    def publish(self, records: list[dict[str, Any]]) -> None:
        """Publish the records GET /v1/domains/{domain} lists (type, name, value)."""
        for r in records:
            self.set(r["type"], r["name"], r["value"])

    def start(self) -> "DnsServer":
        self._server.start_thread()
        return self

    def stop(self) -> None:
        self._server.stop()
        self._server.server.server_close()

    def __enter__(self) -> "DnsServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
