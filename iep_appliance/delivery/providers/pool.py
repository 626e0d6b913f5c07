"""The running providers by name, built from `[providers.*]` and rebuilt by a reload.

`reconfigure(configs)` keeps the object (and so the open connections) of every provider whose
table did not change, builds the others with `registry.build_provider`, and returns the
providers it replaced or removed: the caller closes them once the sends using them are done.
The built-in `outbox` is always there: sandbox messages go to it.
"""

from collections.abc import Mapping

from iep_appliance.config_providers import OutboxProviderConfig, ProviderConfig
from iep_appliance.delivery.providers.base import SANDBOX_PROVIDER, Provider
from iep_appliance.delivery.providers.registry import ProviderParts, build_provider


class ProviderPool:
    def __init__(self, configs: Mapping[str, ProviderConfig], parts: ProviderParts) -> None:
        self.parts = parts
        # One dict for the pool's life: the router and the engine read this same mapping.
        self.providers: dict[str, Provider] = {}
        self._configs: dict[str, ProviderConfig] = {}
        self.reconfigure(configs)

    def reconfigure(self, configs: Mapping[str, ProviderConfig]) -> list[Provider]:
        """Swap in `configs`; returns the providers no longer in use (to close)."""
        current = self.providers
        fresh: dict[str, Provider] = {}
        for name, cfg in configs.items():
            kept = current.get(name)
            if kept is None or self._configs.get(name) != cfg:
                kept = build_provider(name, cfg, self.parts)
            fresh[name] = kept
        if SANDBOX_PROVIDER not in fresh:
            sandbox = current.get(SANDBOX_PROVIDER)
            if sandbox is None or sandbox.kind != "outbox":
                sandbox = build_provider(SANDBOX_PROVIDER, OutboxProviderConfig(), self.parts)
            fresh[SANDBOX_PROVIDER] = sandbox
        live = {id(p) for p in fresh.values()}
        retired = [p for p in current.values() if id(p) not in live]
        current.clear()
        current.update(fresh)
        self._configs = dict(configs)
        return retired
