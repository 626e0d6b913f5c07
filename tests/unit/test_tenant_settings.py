"""The pure PATCH /v1/tenant merge: objects merge key by key, null clears, errors name
every bad field, read-only members may be echoed back unchanged."""

from typing import Any

import msgspec
import pytest

from iep_appliance.domain.errors import ValidationFailed
from iep_appliance.domain.models import RateLimits, Routing, Tenant, TenantSettings
from iep_appliance.domain.tenant_settings import apply_patch

PROVIDERS = {"outbox", "relay"}
TENANT = Tenant(
    id="t1",
    slug="acme",
    name="Acme",
    active=True,
    settings=TenantSettings(rate_limits=RateLimits(max_per_hour=100)),
    created_at="2026-01-01T00:00:00.000Z",
)


def fields(body: Any) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        apply_patch(TENANT, body, PROVIDERS)
    return [e.path for e in info.value.errors]


def test_a_section_merges_into_the_current_values() -> None:
    patched = apply_patch(TENANT, {"rateLimits": {"maxPerMinute": 5}}, PROVIDERS)

    assert patched.settings.rate_limits == RateLimits(max_per_minute=5, max_per_hour=100)
    assert patched.settings.attachments == TENANT.settings.attachments
    assert patched.name == "Acme"


def test_null_clears_a_limit_and_a_routing_choice() -> None:
    routed = apply_patch(TENANT, {"routing": {"primaryProvider": "relay"}}, PROVIDERS)
    tenant = msgspec.structs.replace(TENANT, settings=routed.settings)

    cleared = apply_patch(
        tenant,
        {"rateLimits": {"maxPerHour": None}, "routing": {"primaryProvider": None}},
        PROVIDERS,
    )

    assert cleared.settings.rate_limits.max_per_hour is None
    assert cleared.settings.routing == Routing()


def test_allowed_types_are_lower_cased_and_deduplicated() -> None:
    patched = apply_patch(
        TENANT, {"attachments": {"allowedTypes": ["Text/Plain", "text/plain"]}}, PROVIDERS
    )

    assert patched.settings.attachments.allowed_types == ("text/plain",)


def test_read_only_members_may_be_echoed_back_unchanged() -> None:
    patched = apply_patch(TENANT, {"id": "t1", "slug": "acme", "active": True}, PROVIDERS)

    assert patched.settings == TENANT.settings


def test_every_bad_field_is_named_at_once() -> None:
    body = {
        "rateLimits": {"maxPerMinute": -1, "maxPerDay": 1.5},
        "routing": {"fallbackProvider": "nowhere"},
        "active": False,
        "extra": 1,
    }

    assert sorted(fields(body)) == [
        "active",
        "extra",
        "rateLimits.maxPerDay",
        "rateLimits.maxPerMinute",
        "routing.fallbackProvider",
    ]


@pytest.mark.parametrize("body", [[], "x", None, 3])
def test_a_body_that_is_not_an_object_is_refused(body: Any) -> None:
    assert fields(body) == ["body"]
