"""Config reload on SIGHUP: re-read `iep.toml` and apply what can change in a running process.

What runs: the SIGHUP handler spawns one `Reloader.reload()` at a time (a lock serialises
them). It loads and validates the file exactly as `iep serve` did; an invalid file is logged
(`config.reload_failed`, one problem per line) and changes nothing. A valid one is applied:

- `[providers.*]`, `[routing]`, `[breaker]`: the delivery engine's `reconfigure` takes them
  for the sends that start from now on. A provider whose table did not change keeps its object
  (its open connections) and its breaker (state kept, new `[breaker]` settings applied); a
  changed or removed one is retired: the sends already in flight finish on it, then it is
  closed.
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
from typing import Any

import msgspec

from iep_appliance.config import Config, load
from iep_appliance.domain.errors import ConfigError
from iep_appliance.logs import event
from iep_appliance.wiring import Services, limits_of

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


class Reloader:
    def __init__(
        self,
        services: Services,
        path: str | Path,
        adjust: Callable[[Config], Config] | None = None,
    ) -> None:
        self.services = services
        self.path = Path(path)
        self.adjust = adjust  # what `iep serve --host/--port` put over the file
        self._lock = asyncio.Lock()

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Reload on SIGHUP (systemd's `ExecReload=/bin/kill -HUP $MAINPID`)."""
        loop.add_signal_handler(signal.SIGHUP, self.on_signal)

    def on_signal(self) -> None:
        self.services.tasks.spawn(self.reload(), "config-reload")

    async def reload(self) -> bool:
        """Apply the file's config; False (old config kept) when it is invalid."""
        async with self._lock:
            metrics = self.services.metrics.config_reloads
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
            old = self.services.config
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
        """Swap in `new`; nothing awaits here, so no request sees half of it. Each part takes
        its section through its own `reconfigure`."""
        s = self.services
        logging.getLogger().setLevel(new.logging.level)
        s.rate_limits.reconfigure(limits_of(new))
        s.tenant_settings.reconfigure({*new.providers, "outbox"})
        storage = new.storage  # the retention task reads its interval from services.config
        s.retention.reconfigure(
            storage.retention_days, storage.attachment_retention_days, storage.purge_batch_size
        )
        s.housekeeping.reconfigure(storage)
        s.health.reconfigure(new)
        s.config = new
        # providers, routing, breakers: the delivery engine rebuilds what changed (registry)
        if s.delivery is not None:
            s.delivery.reconfigure(new.providers, new.routing, new.breaker)
