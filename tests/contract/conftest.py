"""The one store fixture of the conformance suite, parametrized over backends.

Every `tests/contract/test_store*.py` test that takes `store` runs once per entry of BACKENDS.
A new backend is one entry there plus one branch of `_build` (e.g. `"postgresql"`: a store on
a fresh database of a server the test run provides). `open_store()` opens another handle on
the same storage (a second node). Time is a FakeClock shared by every handle.
"""

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from iep_appliance.clock import FakeClock
from iep_appliance.domain.models import Tenant
from iep_appliance.store.base import Store
from iep_appliance.store.postgres.store import PostgresStore
from iep_appliance.store.sqlite.store import SqliteStore
from tests.support.postgres import fresh_schema

BACKENDS = ["sqlite", "postgresql"]
OpenStore = Callable[[], Awaitable[Store]]


def _build(backend: str, tmp_path: Path, clock: FakeClock, schema: tuple[str, str]) -> Store:
    """A not yet opened store of `backend` over the test's storage."""
    if backend == "sqlite":
        return SqliteStore(str(tmp_path / "iep.db"), clock, commit_window_ms=1.0)
    if backend == "postgresql":
        url, name = schema
        return PostgresStore(url, clock, pool_size=4, search_path=name)
    raise AssertionError(f"unknown backend {backend!r}")  # pragma: no cover


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend this run of a test is for."""
    return str(request.param)


@pytest.fixture
async def open_store(backend: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[OpenStore]:
    opened: list[Store] = []
    with contextlib.ExitStack() as stack:
        # PostgreSQL: a fresh schema of the test server per test, dropped after it.
        schema = stack.enter_context(fresh_schema()) if backend == "postgresql" else ("", "")

        async def open_one() -> Store:
            store = _build(backend, tmp_path, clock, schema)
            await store.open()
            opened.append(store)
            return store

        yield open_one
        for store in reversed(opened):
            await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store()


@pytest.fixture
async def tenant(store: Store) -> Tenant:
    return await store.create_tenant("acme", "Acme", ["acme.test"])


@pytest.fixture
async def other(store: Store) -> Tenant:
    return await store.create_tenant("other", "Other", ["other.test"])
