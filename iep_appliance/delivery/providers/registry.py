"""Provider objects from `[providers.NAME]` tables: one builder per provider type.

`build_provider(name, config, parts)` is the only place a Provider is made, at start and on
a config reload (`ProviderPool.reconfigure`). A new provider type is one builder registered
in `BUILDERS` for its config Struct (config_providers.py); `test_registry` checks that every
type in `ProviderConfig` has one.
"""

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from iep_appliance.clock import Clock
from iep_appliance.config_providers import (
    OutboxProviderConfig,
    ProviderConfig,
    ProviderSection,
    SmtpProviderConfig,
)
from iep_appliance.delivery.providers.base import Provider
from iep_appliance.delivery.providers.outbox import OutboxProvider, SaveFn
from iep_appliance.delivery.providers.smtp import SmtpProvider

C = TypeVar("C", bound=ProviderSection)


class ProviderParts(msgspec.Struct, frozen=True):
    """What builders are given besides the provider's own table."""

    save_outbox: SaveFn  # the store's outbox write (the `outbox` provider keeps mail there)
    clock: Clock
    hostname: str = ""  # `[delivery] hostname` (EHLO); "" = the FQDN, or the sender's domain
    metrics: Any = None


Builder = Callable[[str, Any, ProviderParts], Provider]
BUILDERS: dict[type[ProviderSection], Builder] = {}


def register(kind: type[C], build: Callable[[str, C, ProviderParts], Provider]) -> None:
    """Build providers of config Struct `kind` with `build(name, config, parts)`."""
    BUILDERS[kind] = build


def build_provider(name: str, config: ProviderConfig, parts: ProviderParts) -> Provider:
    """The Provider for one `[providers.NAME]` table."""
    build = BUILDERS.get(type(config))
    if build is None:
        raise LookupError(f"no provider builder for type {config.type!r}")
    return build(name, config, parts)


register(SmtpProviderConfig, lambda name, cfg, parts: SmtpProvider(name, cfg, parts.hostname))
register(OutboxProviderConfig, lambda name, cfg, parts: OutboxProvider(name, parts.save_outbox))
