"""Routing: which provider sends a tenant's message now.

Tenant primary (or `[routing].default_provider`), then the tenant fallback (or
`[routing].fallback_provider`) while the primary's breaker is open. Sandbox messages
always go to the built-in outbox. Breakers are the pure `domain.breaker.Breaker`.
"""

import msgspec

from iep_appliance.config import BreakerConfig
from iep_appliance.delivery.providers.base import Provider
from iep_appliance.domain.breaker import Breaker
from iep_appliance.domain.models import Routing

SANDBOX_PROVIDER = "outbox"


class Route(msgspec.Struct, frozen=True):
    provider: str | None  # None: every candidate's breaker is open
    primary: str
    fell_back: bool = False


class Router:
    def __init__(
        self,
        providers: dict[str, Provider],
        default: str,
        fallback: str | None,
        breaker: BreakerConfig,
    ) -> None:
        self.providers = providers
        self.default = default
        self.fallback = fallback
        self.breakers = {
            name: Breaker(
                error_rate=breaker.error_rate,
                min_requests=breaker.min_requests,
                window_seconds=breaker.window_seconds,
                cooldown_seconds=breaker.cooldown_seconds,
            )
            for name in providers
        }
        self.last_errors: dict[str, tuple[str, float]] = {}

    def route(self, routing: Routing, sandbox: bool, now: float) -> Route:
        if sandbox:
            return Route(provider=SANDBOX_PROVIDER, primary=SANDBOX_PROVIDER)
        primary = routing.primary_provider or self.default
        if primary not in self.providers:
            primary = self.default
        fallback = routing.fallback_provider or self.fallback
        if fallback not in self.providers or fallback == primary:
            fallback = None
        if self.breakers[primary].allow(now):
            return Route(provider=primary, primary=primary)
        if fallback is not None and self.breakers[fallback].allow(now):
            return Route(provider=fallback, primary=primary, fell_back=True)
        return Route(provider=None, primary=primary)

    def record(self, provider: str, success: bool, now: float, error: str | None = None) -> None:
        breaker = self.breakers.get(provider)
        if breaker is not None:
            breaker.record(success, now)
        if not success and error:
            self.last_errors[provider] = (error, now)

    def last_error(self, provider: str) -> tuple[str, float] | None:
        """The newest failure of a provider (its description, monotonic time), for the
        dashboard's provider health."""
        return self.last_errors.get(provider)

    def states(self) -> dict[str, str]:
        return {name: b.state for name, b in self.breakers.items()}
