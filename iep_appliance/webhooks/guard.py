"""The SSRF guard: webhook URLs reach public addresses only (DESIGN §4 "SSRF guard").

At registration every address a host resolves to must be public, and a host that does not
resolve is refused. At send time the name is resolved again, the address is checked again,
and the POST connects only to the checked addresses (`PinnedBackend`), so a name that rebinds to a
private address between the check and the connection cannot pass. The URL's host still goes
into the `Host` header and TLS SNI/certificate checks. `allow_private_networks` turns the
address checks off; only http/https stays enforced. Address rules are `domain/netaddr.py`.
"""

import asyncio
import contextlib
import contextvars
import ipaddress
import socket
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx
import msgspec

from iep_appliance.domain.netaddr import (
    IPAddress,
    UrlRefused,
    WebhookUrl,
    blocked_reason,
    parse_webhook_url,
)


class Target(msgspec.Struct, frozen=True):
    """Where one POST goes: the URL's parts and the checked addresses, tried in order."""

    url: WebhookUrl
    addresses: tuple[str, ...]


class Guard:
    def __init__(self, allow_private_networks: bool = False, resolve_timeout: float = 5.0):
        self.allow_private = allow_private_networks
        self.resolve_timeout = resolve_timeout

    async def check_url(self, url: str) -> None:
        """Registration-time check. Raises UrlRefused naming the reason."""
        parsed = parse_webhook_url(url)
        if self.allow_private:
            return
        await self._public_addresses(parsed)

    async def target(self, url: str) -> Target:
        """Send-time check: resolve now and check every address the POST may connect to."""
        parsed = parse_webhook_url(url)
        if self.allow_private:
            addresses = await self._resolve(parsed)
        else:
            addresses = await self._public_addresses(parsed)
        return Target(url=parsed, addresses=tuple(str(a) for a in addresses))

    async def _public_addresses(self, parsed: WebhookUrl) -> list[IPAddress]:
        addresses = await self._resolve(parsed)
        for addr in addresses:
            reason = blocked_reason(addr)
            if reason is not None:
                if parsed.literal is not None:
                    raise UrlRefused(f"{addr} is a {reason} address")
                raise UrlRefused(f"{parsed.host} resolves to {addr}, a {reason} address")
        return addresses

    async def _resolve(self, parsed: WebhookUrl) -> list[IPAddress]:
        if parsed.literal is not None:
            return [parsed.literal]
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.resolve_timeout):
                infos = await loop.getaddrinfo(
                    parsed.host, parsed.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
                )
        except (OSError, UnicodeError, TimeoutError):
            raise UrlRefused(f"host {parsed.host} does not resolve") from None
        addresses = _unique(info[4][0] for info in infos)
        if not addresses:
            raise UrlRefused(f"host {parsed.host} does not resolve")
        return addresses


def _unique(found: Iterable[Any]) -> list[IPAddress]:
    out: list[IPAddress] = []
    for text in found:
        addr = ipaddress.ip_address(str(text).split("%", 1)[0])
        if addr not in out:
            out.append(addr)
    return out


# ---- connecting to the checked address ----------------------------------------------------

# The (host, addresses) pin of the POST running in this task; httpcore connects in the task
# that sends the request, so the pin cannot leak into another delivery.
_pin: contextvars.ContextVar[tuple[str, tuple[str, ...]] | None] = contextvars.ContextVar(
    "webhook_pin", default=None
)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the pinned addresses instead of resolving the URL's host again."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        pin = _pin.get()
        if pin is None or pin[0] != _host_key(host):
            raise httpcore.ConnectError(f"refusing to connect to unchecked host {host}")
        failure: Exception | None = None
        for address in pin[1]:  # as a resolving client would: the next address if one fails
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"no address to connect to for {host}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's backend interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks never use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def pinned_client(timeout: float, max_connections: int) -> httpx.AsyncClient:
    """An httpx client whose every connection goes to the address pinned by `pinned(target)`.

    No proxies from the environment (a proxy would resolve the name itself), no redirects.
    """
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx 0.28 takes no network backend; swap in a pool built with ours (httpcore's public
    # API), keeping httpx's request/response mapping and exception translation.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=5.0,
        network_backend=PinnedBackend(),
    )
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )


@contextlib.contextmanager
def pinned(target: Target) -> Iterator[None]:
    """Pin connections made in this task to `target.addresses` while the block runs."""
    token = _pin.set((_host_key(target.url.host), target.addresses))
    try:
        yield
    finally:
        _pin.reset(token)


def _host_key(host: str) -> str:
    key = host.strip("[]").rstrip(".").lower()
    if ":" in key:
        try:
            return str(ipaddress.IPv6Address(key))
        except ValueError:
            return key
    return key


__all__ = ["Guard", "PinnedBackend", "Target", "UrlRefused", "pinned", "pinned_client"]
