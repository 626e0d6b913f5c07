"""Providers are built in one place (registry.build_provider) and swapped by reconfigure():
an unchanged table keeps its object and breaker, a changed one is rebuilt and retired."""

from typing import get_args

from iep_appliance.clock import FakeClock
from iep_appliance.config import BreakerConfig
from iep_appliance.config_providers import (
    OutboxProviderConfig,
    ProviderConfig,
    SmtpProviderConfig,
)
from iep_appliance.delivery.providers.outbox import OutboxProvider
from iep_appliance.delivery.providers.pool import ProviderPool
from iep_appliance.delivery.providers.registry import BUILDERS, ProviderParts, build_provider
from iep_appliance.delivery.providers.smtp import SmtpProvider
from iep_appliance.delivery.router import Router


async def _save(tenant_id: str, message_id: str, mime: bytes) -> None:
    return None


PARTS = ProviderParts(save_outbox=_save, clock=FakeClock(), hostname="mx.example.com")
BREAKER = BreakerConfig()


def test_every_provider_type_has_a_builder() -> None:
    assert set(get_args(ProviderConfig)) <= set(BUILDERS)


def test_build_provider_makes_the_provider_of_each_type() -> None:
    smtp = build_provider("relay", SmtpProviderConfig(host="smtp.example.net"), PARTS)
    outbox = build_provider("box", OutboxProviderConfig(), PARTS)

    assert isinstance(smtp, SmtpProvider) and (smtp.name, smtp.kind) == ("relay", "smtp")
    assert smtp.cfg.host == "smtp.example.net"
    assert isinstance(outbox, OutboxProvider) and outbox.name == "box"


def test_the_pool_always_has_the_sandbox_outbox() -> None:
    pool = ProviderPool({"relay": SmtpProviderConfig()}, PARTS)

    assert set(pool.providers) == {"relay", "outbox"}
    assert pool.providers["outbox"].kind == "outbox"


def test_reconfigure_keeps_unchanged_providers_and_retires_the_others() -> None:
    pool = ProviderPool(
        {"relay": SmtpProviderConfig(port=2525), "backup": SmtpProviderConfig(port=2526)}, PARTS
    )
    router = Router(pool.providers, "relay", "backup", BREAKER)
    shared = pool.providers
    relay, backup, sandbox = (pool.providers[n] for n in ("relay", "backup", "outbox"))
    relay_breaker, backup_breaker = router.breakers["relay"], router.breakers["backup"]

    retired = pool.reconfigure(
        {"relay": SmtpProviderConfig(port=2525), "new": SmtpProviderConfig()}
    )
    router.reconfigure("relay", None, BreakerConfig(cooldown_seconds=5))

    assert pool.providers is shared  # the router reads the same mapping
    assert pool.providers["relay"] is relay and pool.providers["outbox"] is sandbox
    assert retired == [backup]
    assert set(router.breakers) == {"relay", "new", "outbox"}
    assert router.breakers["relay"] is relay_breaker and relay_breaker.cooldown_seconds == 5
    assert backup_breaker not in router.breakers.values()
    assert router.fallback is None


def test_a_changed_table_is_rebuilt_with_a_fresh_breaker() -> None:
    pool = ProviderPool({"relay": SmtpProviderConfig(port=2525)}, PARTS)
    router = Router(pool.providers, "relay", None, BREAKER)
    old, old_breaker = pool.providers["relay"], router.breakers["relay"]

    retired = pool.reconfigure({"relay": SmtpProviderConfig(port=2600)})
    router.reconfigure("relay", None, BREAKER)

    assert retired == [old] and pool.providers["relay"] is not old
    assert router.breakers["relay"] is not old_breaker


def test_a_result_from_a_retired_provider_judges_nothing() -> None:
    pool = ProviderPool({"relay": SmtpProviderConfig(port=2525)}, PARTS)
    router = Router(pool.providers, "relay", None, BreakerConfig(min_requests=1))
    old = pool.providers["relay"]
    pool.reconfigure({"relay": SmtpProviderConfig(port=2600)})
    router.reconfigure("relay", None, BreakerConfig(min_requests=1))

    router.record("relay", False, 0.0, "connection refused", sent_by=old)

    assert router.breakers["relay"].state == "closed"
    assert router.last_error("relay") is None
