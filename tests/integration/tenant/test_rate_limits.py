"""Per-tenant send limits over the API: 429 with Retry-After past the limit, X-RateLimit-*
headers on every send, tenants counted apart, windows kept across a restart."""

from typing import Any

from tests.integration.tenant.conftest import Appliance, TenantKey, message
from tests.support.problems import assert_problem
from tests.support.waiting import wait_until


async def limit(appliance: Appliance, who: TenantKey, **limits: int | None) -> None:
    resp = await appliance.client.patch("/v1/tenant", json={"rateLimits": limits}, headers=who.auth)
    assert resp.status_code == 200, resp.text


async def send(appliance: Appliance, who: TenantKey, **overrides: Any) -> Any:
    return await appliance.client.post("/v1/messages", json=message(**overrides), headers=who.auth)


async def test_message_past_the_minute_limit_is_429_with_headers_and_retry_after(
    appliance: Appliance,
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    await limit(appliance, acme, maxPerMinute=3)
    remaining = []
    for _ in range(3):
        resp = await send(appliance, acme)
        assert resp.status_code == 202
        assert resp.headers["X-RateLimit-Limit"] == "3"
        assert 1 <= int(resp.headers["X-RateLimit-Reset"]) <= 60
        remaining.append(resp.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]

    refused = await send(appliance, acme)

    assert_problem(refused, 429)
    assert refused.headers["X-RateLimit-Limit"] == "3"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["retryAfter"] == int(refused.headers["Retry-After"])


async def test_another_tenant_is_unaffected_by_a_tenants_limit(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme, globex = await appliance.tenant("acme"), await appliance.tenant("globex")
    await limit(appliance, acme, maxPerMinute=1)
    await limit(appliance, globex, maxPerMinute=5)
    assert (await send(appliance, acme)).status_code == 202
    assert (await send(appliance, acme)).status_code == 429

    resp = await send(appliance, globex)

    assert resp.status_code == 202
    assert resp.headers["X-RateLimit-Remaining"] == "4"


async def test_minute_window_holds_across_a_restart_on_the_same_database(
    appliance: Appliance,
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    await limit(appliance, acme, maxPerMinute=2, maxPerDay=100)
    for _ in range(2):
        assert (await send(appliance, acme)).status_code == 202

    await appliance.restart()  # same FakeClock time: still the same minute

    refused = await send(appliance, acme)
    assert_problem(refused, 429)
    appliance.clock.advance(60)  # the next minute: the day window still counts the first two
    resp = await send(appliance, acme)
    assert resp.status_code == 202
    assert resp.headers["X-RateLimit-Remaining"] == "1"  # minute: 2 - 1 (day has 97 left)


async def test_increments_reach_the_database_without_a_graceful_stop(
    appliance: Appliance,
) -> None:
    """The flusher writes reservations through the group-commit writer right behind them."""
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    await limit(appliance, acme, maxPerHour=10)
    for _ in range(4):
        assert (await send(appliance, acme)).status_code == 202

    async def four_on_disk() -> bool:
        rows = await appliance.rt.services.store.db.read(
            lambda c: c.execute(
                "SELECT count FROM rate_windows WHERE tenant_id = ? AND window = 'hour'",
                (acme.tenant_id,),
            ).fetchall()
        )
        return rows == [(4,)]

    await wait_until(four_on_disk, timeout=10, message="hour count 4 in rate_windows")


async def test_the_window_resets_when_the_minute_ends(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    await limit(appliance, acme, maxPerMinute=1)
    assert (await send(appliance, acme)).status_code == 202
    assert (await send(appliance, acme)).status_code == 429

    appliance.clock.advance(60)

    assert (await send(appliance, acme)).status_code == 202


async def test_rejected_and_replayed_sends_do_not_count(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    await limit(appliance, acme, maxPerMinute=2)
    bad = await send(appliance, acme, to=["not an address"])
    assert_problem(bad, 422, "to[0]")
    first = await send(appliance, acme, idempotencyKey="k1")
    assert first.status_code == 202
    replay = await send(appliance, acme, idempotencyKey="k1")
    assert replay.status_code == 200

    resp = await send(appliance, acme)

    assert resp.status_code == 202
    assert resp.headers["X-RateLimit-Remaining"] == "0"


async def test_config_default_applies_until_the_tenant_sets_its_own(appliance: Appliance) -> None:
    appliance.configure(limits={"max_per_minute": 1})
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    assert (await send(appliance, acme)).headers["X-RateLimit-Limit"] == "1"
    assert (await send(appliance, acme)).status_code == 429

    await limit(appliance, acme, maxPerMinute=0)  # 0 = unlimited, overriding the default

    resp = await send(appliance, acme)
    assert resp.status_code == 202
    assert "X-RateLimit-Limit" not in resp.headers


async def test_refusals_are_counted_in_metrics_per_tenant(appliance: Appliance) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    await limit(appliance, acme, maxPerMinute=1)
    await send(appliance, acme)
    await send(appliance, acme)
    await send(appliance, acme)

    text = (await appliance.client.get("/metrics")).text

    assert f'iep_rate_limit_hits_total{{tenant="{acme.tenant_id}"}} 2.0' in text
