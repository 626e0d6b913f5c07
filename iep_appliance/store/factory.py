"""Open the store `[storage] backend` names (not yet opened: the caller runs `open()`).

A new backend is one entry of BACKENDS: a function from the config and the clock to an
object satisfying `Store` (its module imported there, so an unused backend costs nothing).

Example:
    store = open_store(config, clock)
    await store.open()
"""

import os
from collections.abc import Callable

from iep_appliance.clock import Clock
from iep_appliance.config import Config
from iep_appliance.domain.errors import ConfigError
from iep_appliance.domain.retry import attempts_from
from iep_appliance.domain.store_copy import TableCount
from iep_appliance.store.base import Store


def _sqlite(config: Config, clock: Clock, node_id: str | None) -> Store:
    from iep_appliance.store.sqlite.store import SqliteStore

    storage = config.storage
    return SqliteStore(
        storage.path,
        clock,
        synchronous=storage.synchronous,
        commit_window_ms=storage.commit_window_ms,
        webhook_attempts=attempts_from(config.webhooks.retry_schedule),
        node_id=node_id,
    )


def _postgresql(config: Config, clock: Clock, node_id: str | None) -> Store:
    from iep_appliance.store.postgres.store import PostgresStore  # psycopg loads only here

    storage = config.storage
    url = os.environ.get(storage.url_env, "")
    if not url:
        raise ConfigError([f"storage.url_env: environment variable {storage.url_env} is not set"])
    return PostgresStore(
        url,
        clock,
        storage.pool_size,
        webhook_attempts=attempts_from(config.webhooks.retry_schedule),
        node_id=node_id,
    )


# backend name ([storage] backend) -> how to build it
BACKENDS: dict[str, Callable[[Config, Clock, str | None], Store]] = {
    "sqlite": _sqlite,
    "postgresql": _postgresql,
}


def open_store(config: Config, clock: Clock, node_id: str | None = None) -> Store:
    """The configured backend's store; `node_id`: the lease owner its claims record (a
    worker process or node sharing the store; None for the only one). Raises ValueError for
    a backend this build lacks (config.py's Literal already refuses unknown names at load)."""
    build = BACKENDS.get(config.storage.backend)
    if build is None:
        raise ValueError(f"no storage backend {config.storage.backend!r}")
    return build(config, clock, node_id)


def copy_sqlite_to_postgresql(
    source: Config, target: Config, progress: Callable[[str], None], batch: int = 2000
) -> list[TableCount]:
    """`iep store copy`: every table of `source`'s SQLite file into `target`'s PostgreSQL
    (migrated first); the row counts of both sides after."""
    from iep_appliance.store.postgres.copy import copy_sqlite_to_postgres
    from iep_appliance.store.postgres.db import PgDatabase

    url = os.environ.get(target.storage.url_env, "")
    if not url:
        raise ConfigError(
            [f"storage.url_env: environment variable {target.storage.url_env} is not set"]
        )
    return copy_sqlite_to_postgres(source.storage.path, PgDatabase(url), progress, batch)
