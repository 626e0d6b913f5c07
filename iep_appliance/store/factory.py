"""`open_store(config)`: the Store that `[storage] backend` names. The one place a backend is
chosen; runtime and CLI call it and see only the `Store` Protocol."""

import os
from collections.abc import Mapping

from iep_appliance.clock import Clock
from iep_appliance.config import Config
from iep_appliance.domain.errors import ConfigError
from iep_appliance.store.base import Store


def open_store(config: Config, clock: Clock, environ: Mapping[str, str] | None = None) -> Store:
    """An unopened store (call `await store.open()`)."""
    storage = config.storage
    webhook_attempts = len(config.webhooks.retry_schedule) + 1
    if storage.backend == "postgresql":
        env = os.environ if environ is None else environ
        url = env.get(storage.url_env, "")
        if not url:
            raise ConfigError(
                [f"storage.url_env: environment variable {storage.url_env} is not set"]
            )
        from iep_appliance.store.postgres.store import PostgresStore  # psycopg only when used

        return PostgresStore(url, clock, storage.pool_size, webhook_attempts)
    from iep_appliance.store.sqlite.store import SqliteStore

    return SqliteStore(
        storage.path,
        clock,
        synchronous=storage.synchronous,
        commit_window_ms=storage.commit_window_ms,
        webhook_attempts=webhook_attempts,
    )
