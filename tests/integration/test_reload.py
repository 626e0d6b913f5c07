"""Config reload (SIGHUP's work, reload.py) on an in-process Runtime with real SMTP sinks.

The config lives in a real iep.toml under tmp_path; each test rewrites it and calls
`Reloader.reload()`, which is exactly what the SIGHUP handler spawns. The signal itself
against the real `iep serve` process is covered in tests/e2e/test_reload_e2e.py.
"""

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from iep_appliance.clock import Clock
from iep_appliance.config import load
from iep_appliance.reload import Reloader, changed_keys, effective, needs_restart
from tests.integration.tenant.conftest import Appliance, message
from tests.support.procs import dumps_toml, merge_config
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until


def relay(port: int) -> dict[str, Any]:
    return {"type": "smtp", "host": "127.0.0.1", "port": port, "timeout_seconds": 10}


class Reloadable:
    """An Appliance whose config is an iep.toml file that tests rewrite and reload."""

    def __init__(self, appliance: Appliance, sections: dict[str, Any]) -> None:
        self.appliance = appliance
        self.sections = merge_config(appliance.sections, sections)
        self.path = appliance.tmp_path / "iep.toml"
        self.path.write_text(dumps_toml(self.sections))
        appliance.sections = self.sections
        appliance.clock = Clock()  # real SMTP timeouts and retry times

    async def start(self) -> Reloader:
        await self.appliance.start()
        return Reloader(self.appliance.rt.services, self.path)

    def rewrite(self, **changes: Any) -> None:
        self.sections = merge_config(self.sections, changes)
        self.path.write_text(dumps_toml(self.sections))


@pytest.fixture
async def reloadable(tmp_path: Path) -> AsyncIterator[Appliance]:
    app = Appliance(tmp_path)
    try:
        yield app
    finally:
        await app.stop()


async def send(appliance: Appliance, to: str) -> str:
    assert appliance.admin is not None
    resp = await appliance.client.post(
        "/v1/messages", json=message(to=[to]), headers=appliance.admin.auth
    )
    assert resp.status_code == 202, resp.text
    return resp.json()["messageId"]


async def status_of(appliance: Appliance, message_id: str) -> str:
    assert appliance.admin is not None
    resp = await appliance.client.get(f"/v1/messages/{message_id}", headers=appliance.admin.auth)
    return resp.json()["status"]


async def test_in_flight_send_finishes_on_the_old_relay_and_the_next_goes_to_the_new_one(
    reloadable: Appliance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="iep.reload")
    with SmtpSink(delay=1.0) as old, SmtpSink() as new:
        conf = Reloadable(
            reloadable,
            {"providers": {"relay": relay(old.port)}, "routing": {"default_provider": "relay"}},
        )
        reloader = await conf.start()
        first = await send(reloadable, "first@example.org")
        await wait_until(lambda: old.rcpt_attempts("first@example.org") == 1, timeout=10)
        assert old.received == []  # DATA is being held by the sink: the send is in flight

        conf.rewrite(providers={"relay": {"port": new.port}})
        assert await reloader.reload()
        second = await send(reloadable, "second@example.org")

        await wait_until(lambda: len(new.received) == 1, timeout=10)
        assert new.received[0].rcpt_tos == ("second@example.org",)
        await wait_until(
            lambda: any(r.getMessage() == "providers.retired" for r in caplog.records),
            timeout=15,
            message="the replaced relay provider was never closed",
        )
        # Retired only after its in-flight send completed and was recorded.
        assert [r.rcpt_tos for r in old.received] == [("first@example.org",)]
        assert await status_of(reloadable, first) == "sent"
        assert await wait_until(lambda: _is_sent(reloadable, second), timeout=10)


async def _is_sent(appliance: Appliance, message_id: str) -> bool:
    return await status_of(appliance, message_id) == "sent"


async def test_unchanged_provider_keeps_its_object_and_breaker_with_new_settings(
    reloadable: Appliance,
) -> None:
    with SmtpSink() as sink:
        conf = Reloadable(
            reloadable,
            {"providers": {"relay": relay(sink.port)}, "routing": {"default_provider": "relay"}},
        )
        reloader = await conf.start()
        engine = reloadable.rt.services.delivery
        provider, breaker = engine.providers["relay"], engine.router.breakers["relay"]

        conf.rewrite(limits={"max_per_minute": 100}, breaker={"cooldown_seconds": 5})
        assert await reloader.reload()

        assert engine.providers["relay"] is provider
        assert engine.router.breakers["relay"] is breaker
        assert breaker.cooldown_seconds == 5


async def test_reload_applies_default_limits_and_breaker_settings(reloadable: Appliance) -> None:
    conf = Reloadable(reloadable, {})
    reloader = await conf.start()

    conf.rewrite(limits={"max_per_minute": 1}, breaker={"error_rate": 0.9, "min_requests": 3})
    assert await reloader.reload()

    await send(reloadable, "one@example.org")  # unlimited sends before did not count
    assert reloadable.admin is not None
    limited = await reloadable.client.post(
        "/v1/messages", json=message(), headers=reloadable.admin.auth
    )
    assert limited.status_code == 429, limited.text
    breaker = reloadable.rt.services.delivery.router.breakers["outbox"]
    assert (breaker.error_rate, breaker.min_requests) == (0.9, 3)
    assert reloadable.rt.config.limits.max_per_minute == 1


async def test_reload_sets_the_log_level(reloadable: Appliance) -> None:
    conf = Reloadable(reloadable, {"logging": {"level": "INFO"}})
    reloader = await conf.start()
    root = logging.getLogger()
    before = root.level
    try:
        conf.rewrite(logging={"level": "ERROR"})
        assert await reloader.reload()
        assert root.level == logging.ERROR
    finally:
        root.setLevel(before)


async def test_invalid_config_keeps_the_running_one_and_logs_each_problem(
    reloadable: Appliance, caplog: pytest.LogCaptureFixture
) -> None:
    conf = Reloadable(reloadable, {})
    reloader = await conf.start()
    running = reloadable.rt.config
    conf.rewrite(limits={"max_per_minute": -1}, routing={"default_provider": "nowhere"})

    assert not await reloader.reload()

    assert reloadable.rt.config is running
    failed = [r for r in caplog.records if r.getMessage() == "config.reload_failed"]
    assert len(failed) == 1 and failed[0].levelno == logging.ERROR
    problems = failed[0].fields["problems"]  # type: ignore[attr-defined]
    assert any(p.startswith("limits.max_per_minute") for p in problems), problems
    await send(reloadable, "still@example.org")  # still serving on the old config


async def test_restart_only_keys_keep_running_values_and_are_named_in_a_warning(
    reloadable: Appliance, caplog: pytest.LogCaptureFixture
) -> None:
    conf = Reloadable(reloadable, {"server": {"port": 8080}})
    reloader = await conf.start()
    conf.rewrite(
        server={"port": 9090},
        delivery={"concurrency": 2, "shutdown_grace_seconds": 3},
        limits={"max_per_hour": 50},
    )

    assert await reloader.reload()

    cfg = reloadable.rt.config
    assert (cfg.server.port, cfg.delivery.concurrency) == (8080, 4)
    assert (cfg.delivery.shutdown_grace_seconds, cfg.limits.max_per_hour) == (3, 50)
    warned = [r for r in caplog.records if r.getMessage() == "config.reload_needs_restart"]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    assert warned[0].fields["keys"] == ["delivery.concurrency", "server.port"]  # type: ignore[attr-defined]


def test_changed_keys_names_each_differing_key_and_what_needs_a_restart(tmp_path: Path) -> None:
    a = tmp_path / "a.toml"
    b = tmp_path / "b.toml"
    a.write_text(dumps_toml({"providers": {"outbox": {"type": "outbox"}}}))
    b.write_text(
        dumps_toml(
            {
                "providers": {
                    "outbox": {"type": "outbox"},
                    "relay": {"type": "smtp", "port": 2525},
                },
                "storage": {"path": "other.db"},
                "webhooks": {"concurrency": 2},
                "logging": {"level": "DEBUG"},
            }
        )
    )
    old, new = load(a), load(b)

    keys = changed_keys(old, new)

    assert keys == ["logging.level", "providers.relay", "storage.path", "webhooks.concurrency"]
    assert [k for k in keys if needs_restart(k)] == ["storage.path", "webhooks.concurrency"]
    kept = effective(old, new)
    assert kept.storage == old.storage and kept.webhooks == old.webhooks
    assert kept.logging == new.logging and kept.providers == new.providers


async def test_reload_applies_the_retention_settings(reloadable: Appliance) -> None:
    conf = Reloadable(reloadable, {"storage": {"retention_days": 90}})
    reloader = await conf.start()
    conf.rewrite(
        storage={
            "retention_days": 7,
            "attachment_retention_days": 2,
            "purge_batch_size": 10,
            "purge_interval_seconds": 60,
        }
    )

    assert await reloader.reload()

    retention = reloadable.rt.services.retention
    assert (retention.retention_days, retention.attachment_retention_days) == (7, 2)
    assert retention.batch_size == 10
    assert reloadable.rt.config.storage.purge_interval_seconds == 60
    assert not any(
        needs_restart(f"storage.{key}")
        for key in ("retention_days", "attachment_retention_days", "purge_batch_size")
    )
    assert needs_restart("storage.path")
