"""Routing: which provider sends a tenant's message now.

Tenant primary (or `[routing].default_provider`), then the tenant fallback (or
`[routing].fallback_provider`) while the primary's breaker is open. Sandbox messages
always go to the built-in outbox. Breakers are the pure `domain.breaker.Breaker`; the
router logs each transition (`provider.circuit_opened|half_open|closed`) and mirrors it in
`/metrics` (the state gauge and a transitions counter).
"""

import logging
from collections.abc import Mapping
from typing import Any

import msgspec

from iep_appliance.config import BreakerConfig
from iep_appliance.delivery.providers.base import SANDBOX_PROVIDER, Provider
from iep_appliance.domain.breaker import Breaker, BreakerState
from iep_appliance.domain.models import Routing
from iep_appliance.logs import event

log = logging.getLogger("iep.delivery")
_TRANSITION_EVENT: dict[BreakerState, str] = {
    "open": "provider.circuit_opened",
    "half_open": "provider.circuit_half_open",
    "closed": "provider.circuit_closed",
}


class Route(msgspec.Struct, frozen=True):
    provider: str | None  # None: every candidate's breaker is open
    primary: str
    fell_back: bool = False
    wait_seconds: float = 0.0  # provider None: until the primary's (or fallback's) trial


class Router:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        default: str,
        fallback: str | None,
        breaker: BreakerConfig,
        metrics: Any = None,
    ) -> None:
        self.providers = providers  # the pool's mapping: it changes under a reload
        self.metrics = metrics
        self.breakers: dict[str, Breaker] = {}
        self._judged: dict[str, Provider] = {}  # the provider object each breaker judges
        self.last_errors: dict[str, tuple[str, float]] = {}
        self.reconfigure(default, fallback, breaker)

    def reconfigure(self, default: str, fallback: str | None, breaker: BreakerConfig) -> None:
        """Follow the pool's providers as they are now, with new routing and breaker settings.

        A provider that kept its object keeps its breaker (its state), with the new settings;
        a new or rebuilt one starts with a closed breaker; a removed one loses its own."""
        self.default = default
        self.fallback = fallback
        breakers: dict[str, Breaker] = {}
        carried: set[str] = set()
        for name, provider in self.providers.items():
            kept = self.breakers.get(name)
            if kept is None or self._judged.get(name) is not provider:
                kept = Breaker(
                    error_rate=breaker.error_rate,
                    min_requests=breaker.min_requests,
                    window_seconds=breaker.window_seconds,
                    cooldown_seconds=breaker.cooldown_seconds,
                )
            else:
                kept.error_rate = breaker.error_rate
                kept.min_requests = breaker.min_requests
                kept.window_seconds = breaker.window_seconds
                kept.cooldown_seconds = breaker.cooldown_seconds
                carried.add(name)
            breakers[name] = kept
        self.breakers = breakers
        self._judged = dict(self.providers)
        self.last_errors = {k: v for k, v in self.last_errors.items() if k in carried}
        if self.metrics is not None:
            for name, b in self.breakers.items():
                self.metrics.circuit_state.labels(provider=name).set(b.state_code)

    def route(self, routing: Routing, sandbox: bool, now: float) -> Route:
        if sandbox:
            return Route(provider=SANDBOX_PROVIDER, primary=SANDBOX_PROVIDER)
        primary = routing.primary_provider or self.default
        if primary not in self.providers:
            primary = self.default
        fallback = routing.fallback_provider or self.fallback
        if fallback not in self.providers or fallback == primary:
            fallback = None
        if self._allow(primary, now):
            return Route(provider=primary, primary=primary)
        if fallback is not None and self._allow(fallback, now):
            return Route(provider=fallback, primary=primary, fell_back=True)
        wait = self.breakers[primary].wait_seconds(now)
        if fallback is not None:
            wait = min(wait, self.breakers[fallback].wait_seconds(now))
        return Route(provider=None, primary=primary, wait_seconds=wait)

    def record(
        self,
        provider: str,
        success: bool,
        now: float,
        error: str | None = None,
        sent_by: Provider | None = None,
    ) -> None:
        """Record a provider-health result (`domain.breaker.health_failure` decides `success`);
        `error`, when given, is the attempt's failure (the dashboard's last error). A result of
        `sent_by`, an object a reload has since replaced, judges nothing any more."""
        if sent_by is not None and self.providers.get(provider) is not sent_by:
            return
        breaker = self.breakers.get(provider)
        if breaker is not None:
            before = breaker.state
            breaker.record(success, now)
            self._transitioned(provider, before, breaker, None if success else error)
        if error:
            self.last_errors[provider] = (error, now)

    def _allow(self, provider: str, now: float) -> bool:
        breaker = self.breakers[provider]
        before = breaker.state
        allowed = breaker.allow(now)
        self._transitioned(provider, before, breaker, None)
        return allowed

    def _transitioned(
        self, provider: str, before: BreakerState, breaker: Breaker, error: str | None
    ) -> None:
        after = breaker.state
        if after == before:
            return
        fields: dict[str, Any] = {"provider": provider, "from": before, "to": after}
        if after == "open":
            fields["cooldownSeconds"] = breaker.cooldown_seconds
            if error:
                fields["lastError"] = error
        level = logging.WARNING if after == "open" else logging.INFO
        event(log, _TRANSITION_EVENT[after], level=level, **fields)
        if self.metrics is not None:
            self.metrics.circuit_state.labels(provider=provider).set(breaker.state_code)
            self.metrics.circuit_transitions.labels(provider=provider, state=after).inc()

    def last_error(self, provider: str) -> tuple[str, float] | None:
        """The newest failure of a provider (its description, monotonic time), for the
        dashboard's provider health."""
        return self.last_errors.get(provider)

    def states(self) -> dict[str, str]:
        return {name: b.state for name, b in self.breakers.items()}
