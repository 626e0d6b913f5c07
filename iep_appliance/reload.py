"""Config reload on SIGHUP: re-read `iep.toml` and apply what can change in a running process.

What runs: the SIGHUP handler spawns one `Reloader.reload()` at a time (a lock serialises
them). It loads and validates the file exactly as `iep serve` did; an invalid file is logged
(`config.reload_failed`, one problem per line) and changes nothing. A valid one is applied:

- `[providers.*]`, `[routing]`, `[breaker]`: a new router for the sends that start from now
  on. A provider whose table did not change keeps its object (its open connections) and its
  breaker (state kept, new `[breaker]` settings applied); a changed or removed one is retired:
  the sends already in flight finish on it, then it is closed.
- `[limits]`: the defaults of tenants that set no limit of their own.
- `[logging]`: level and access log; `delivery.shutdown_grace_seconds`.
- `storage.retention_days`, `storage.attachment_retention_days`, `storage.purge_batch_size`,
  `storage.purge_interval_seconds`: the next purge uses them (a new interval starts after the
  current wait).

Every other key (`[server]`, `[storage]`, `[webhooks]`, the rest of `[delivery]`) is bound at
start (sockets, the database, pools, schedules already written into jobs): a change is logged as
`config.reload_needs_restart` naming each key, and the running value is kept. Passwords are
read from the process environment, which only a restart changes.
"""

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from iep_appliance.config import Config, ProviderConfig, load
from iep_appliance.delivery.providers.base import Provider
from iep_appliance.domain.errors import ConfigError
from iep_appliance.logs import event

if TYPE_CHECKING:
    from iep_appliance.runtime import Runtime

log = logging.getLogger("iep.reload")

RELOADABLE = ("providers", "routing", "breaker", "limits", "logging")
"""Sections applied by a reload; RELOADABLE_KEYS are the single keys of other sections."""
RELOADABLE_KEYS = (
    "delivery.shutdown_grace_seconds",
    "storage.retention_days",
    "storage.attachment_retention_days",
    "storage.purge_batch_size",
    "storage.purge_interval_seconds",
)


def changed_keys(old: Config, new: Config) -> list[str]:
    """Dotted names of the keys whose values differ (`providers.relay.port`, `server.port`)."""
    out: list[str] = []
    _diff(msgspec.to_builtins(old), msgspec.to_builtins(new), "", out)
    return [key for key in out if key != "base_dir"]


def _diff(a: Any, b: Any, prefix: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            name = f"{prefix}.{key}" if prefix else key
            if key not in a or key not in b:
                out.append(name)
            else:
                _diff(a[key], b[key], name, out)
    elif a != b:
        out.append(prefix)


def needs_restart(key: str) -> bool:
    return key.split(".", 1)[0] not in RELOADABLE and key not in RELOADABLE_KEYS


def effective(old: Config, new: Config) -> Config:
    """`new` with every key that needs a restart kept at its running value."""
    kept: dict[str, Any] = {
        f.name: getattr(old, f.name)
        for f in msgspec.structs.fields(Config)
        if f.name not in RELOADABLE
    }
    for key in RELOADABLE_KEYS:
        section, name = key.split(".")
        kept[section] = msgspec.structs.replace(
            kept[section], **{name: getattr(getattr(new, section), name)}
        )
    return msgspec.structs.replace(new, **kept)


def make_provider(name: str, cfg: ProviderConfig, save_outbox: Any, hostname: str = "") -> Provider:
    """The provider object for one `[providers.NAME]` table (as the delivery engine builds it)."""
    from iep_appliance.delivery.providers.http_registry import build_http_provider
    from iep_appliance.delivery.providers.outbox import OutboxProvider
    from iep_appliance.delivery.providers.smtp import SmtpProvider

    http = build_http_provider(name, cfg)  # h-providers: ses / sendgrid / mailgun
    if http is not None:
        return http
    if cfg.type == "smtp":
        return SmtpProvider(name, cfg, hostname)
    return OutboxProvider(name, save_outbox)


class Reloader:
    def __init__(
        self,
        runtime: "Runtime",
        path: str | Path,
        adjust: Callable[[Config], Config] | None = None,
    ) -> None:
        self.rt = runtime
        self.path = Path(path)
        self.adjust = adjust  # what `iep serve --host/--port` put over the file
        self._lock = asyncio.Lock()

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Reload on SIGHUP (systemd's `ExecReload=/bin/kill -HUP $MAINPID`)."""
        loop.add_signal_handler(signal.SIGHUP, self.on_signal)

    def on_signal(self) -> None:
        self.rt.spawn(self.reload(), "config-reload")

    async def reload(self) -> bool:
        """Apply the file's config; False (old config kept) when it is invalid."""
        async with self._lock:
            metrics = self.rt.metrics.config_reloads
            try:
                new = await asyncio.to_thread(load, self.path)
                if self.adjust is not None:
                    new = self.adjust(new)
            except ConfigError as exc:
                metrics.labels(result="failed").inc()
                event(
                    log,
                    "config.reload_failed",
                    logging.ERROR,
                    path=str(self.path),
                    problems=exc.problems,
                )
                return False
            old = self.rt.config
            changed = changed_keys(old, new)
            restart = [key for key in changed if needs_restart(key)]
            if restart:
                event(
                    log,
                    "config.reload_needs_restart",
                    logging.WARNING,
                    keys=restart,
                    detail="these keys keep their running values until a restart",
                )
            self._apply(old, effective(old, new))
            metrics.labels(result="applied").inc()
            event(
                log,
                "config.reloaded",
                path=str(self.path),
                applied=[key for key in changed if not needs_restart(key)],
            )
            return True

    def _apply(self, old: Config, new: Config) -> None:
        """Swap in `new`; nothing awaits here, so no request sees half of it."""
        from iep_appliance.domain.ratelimit import Limits

        rt = self.rt
        swap = self._new_router(old, new) if rt.delivery is not None else None
        logging.getLogger().setLevel(new.logging.level)
        limits = new.limits
        rt.rate_limits.defaults = Limits(
            limits.max_per_minute, limits.max_per_hour, limits.max_per_day
        )
        rt.tenant_settings.providers = frozenset({*new.providers, "outbox"})
        storage = new.storage  # the housekeeping task reads its interval from rt.config
        rt.retention.retention_days = storage.retention_days
        rt.retention.attachment_retention_days = storage.attachment_retention_days
        rt.retention.batch_size = storage.purge_batch_size
        rt.config = new
        if swap is not None:
            router, retired = swap
            in_flight = rt.delivery.replace_router(router, retired)
            if retired:
                rt.spawn(self._retire(in_flight, retired), "provider-retire")

    def _new_router(self, old: Config, new: Config) -> tuple[Any, list[Provider]]:
        from iep_appliance.delivery.router import SANDBOX_PROVIDER, Router

        engine = self.rt.delivery
        current: dict[str, Provider] = engine.providers
        providers: dict[str, Provider] = {}
        kept: set[str] = set()
        for name, cfg in new.providers.items():
            if name in current and old.providers.get(name) == cfg:
                providers[name] = current[name]
                kept.add(name)
            else:
                providers[name] = make_provider(
                    name, cfg, engine.store.save_outbox, old.delivery.hostname
                )
        for name, provider in current.items():  # h-providers: tenant providers stay routed
            if name not in old.providers and name not in providers and name != SANDBOX_PROVIDER:
                providers[name] = provider
                kept.add(name)
        if SANDBOX_PROVIDER not in providers:  # the built-in outbox sandbox messages use
            sandbox = current.get(SANDBOX_PROVIDER)
            if sandbox is not None and sandbox.kind == "outbox":
                kept.add(SANDBOX_PROVIDER)
            else:
                sandbox = make_provider(
                    SANDBOX_PROVIDER, ProviderConfig(type="outbox"), engine.store.save_outbox
                )
            providers[SANDBOX_PROVIDER] = sandbox
        router = Router(
            providers,
            new.routing.default_provider,
            new.routing.fallback_provider,
            new.breaker,
            engine.router.metrics,
        )
        for name in kept:  # its breaker state carries over; changed settings apply to it
            breaker = router.breakers[name] = engine.router.breakers[name]
            breaker.error_rate = new.breaker.error_rate
            breaker.min_requests = new.breaker.min_requests
            breaker.window_seconds = new.breaker.window_seconds
            breaker.cooldown_seconds = new.breaker.cooldown_seconds
        live = {id(p) for p in providers.values()}
        retired = [p for p in current.values() if id(p) not in live]
        return router, retired

    async def _retire(self, in_flight: set[int], retired: list[Provider]) -> None:
        """Close replaced providers once the sends that may be using them have finished."""
        engine = self.rt.delivery
        await engine.wait_finished(in_flight)
        await engine.close_retired(retired)
        event(log, "providers.retired", providers=[p.name for p in retired])
