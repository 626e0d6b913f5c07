"""Each backend class satisfies the `Store` Protocol, verb by verb: every member of every
aggregate Protocol exists on the class, is async exactly when the Protocol's is, and takes the
same parameters (names, kinds, which have defaults) with the same annotations. A new backend
joins BACKEND_CLASSES; its capability Protocols (e.g. `Snapshots`) join CAPABILITIES. Also:
`open_store` builds the backend `[storage] backend` names, and backups ask for `Snapshots`."""

import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from iep_appliance.clock import FakeClock
from iep_appliance.config import parse
from iep_appliance.domain.errors import ConfigError, Conflict
from iep_appliance.services.backups import snapshots_of
from iep_appliance.store.base import AGGREGATES, Snapshots, Store
from iep_appliance.store.factory import open_store
from iep_appliance.store.postgres.store import PostgresStore
from iep_appliance.store.sqlite.store import SqliteStore

BACKEND_CLASSES: dict[str, type] = {"sqlite": SqliteStore, "postgresql": PostgresStore}
CAPABILITIES: dict[str, tuple[type, ...]] = {"sqlite": (Snapshots,)}


def verbs(protocol: type) -> dict[str, Callable[..., Any]]:
    """The Protocol's own members (not those of `object` or `Protocol`)."""
    return {
        name: member
        for name, member in vars(protocol).items()
        if not name.startswith("_") and callable(member)
    }


def shape(fn: Callable[..., Any]) -> list[tuple[str, Any, bool, Any]]:
    """(name, kind, has default, annotation) of each parameter but `self`, plus the return."""
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    params = [
        (p.name, p.kind, p.default is not inspect.Parameter.empty, hints.get(p.name))
        for p in list(sig.parameters.values())[1:]
    ]
    return [*params, ("return", None, False, hints.get("return"))]


def mismatches(cls: type, protocols: tuple[type, ...]) -> list[str]:
    found = []
    for protocol in protocols:
        for name, want in verbs(protocol).items():
            have = getattr(cls, name, None)
            where = f"{cls.__name__}.{name} ({protocol.__name__})"
            if have is None:
                found.append(f"{where}: missing")
            elif inspect.iscoroutinefunction(want) != inspect.iscoroutinefunction(have):
                found.append(f"{where}: async in one, not in the other")
            elif shape(want) != shape(have):
                found.append(f"{where}: {shape(have)} != {shape(want)}")
    return found


def test_store_is_the_union_of_its_aggregates() -> None:
    composed = {name for protocol in AGGREGATES for name in verbs(protocol)}
    listed = [name for protocol in AGGREGATES for name in verbs(protocol)]

    assert len(listed) == len(composed)  # no verb in two aggregates
    assert set(AGGREGATES) <= set(Store.__mro__)
    assert not set(verbs(Snapshots)) & composed  # file snapshots are a capability, apart


@pytest.mark.parametrize("backend", sorted(BACKEND_CLASSES))
def test_the_backend_class_has_every_verb_with_its_signature(backend: str) -> None:
    assert mismatches(BACKEND_CLASSES[backend], AGGREGATES) == []


@pytest.mark.parametrize("backend", sorted(CAPABILITIES))
def test_the_backend_class_has_its_capabilities(backend: str) -> None:
    assert mismatches(BACKEND_CLASSES[backend], CAPABILITIES[backend]) == []


def test_a_class_without_a_verb_or_with_another_signature_is_caught() -> None:
    class Partial(SqliteStore):
        async def get_tenant(self, tenant_id: str, extra: int) -> None:  # type: ignore[override]
            return None

    del_verb = [m for m in mismatches(type("Bare", (), {}), AGGREGATES) if "missing" in m]
    assert any("Partial.get_tenant" in m for m in mismatches(Partial, AGGREGATES))
    assert len(del_verb) == sum(len(verbs(p)) for p in AGGREGATES)


async def test_the_factory_opens_the_configured_backend(tmp_path: Path) -> None:
    cfg = parse({"storage": {"backend": "sqlite", "path": "iep.db"}}, tmp_path, environ={})

    store = open_store(cfg, FakeClock())
    await store.open()
    try:
        await store.ping()
        assert isinstance(store, SqliteStore)
        assert (tmp_path / "iep.db").exists()
    finally:
        await store.close()


def test_an_unknown_backend_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"storage": {"backend": "mysql"}}, tmp_path, environ={})

    assert any(p.startswith("storage.backend") for p in caught.value.problems)


def test_postgresql_without_its_url_is_a_config_error_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IEP_DATABASE_URL", raising=False)
    cfg = parse({"storage": {"backend": "postgresql"}}, tmp_path, environ={})

    with pytest.raises(ConfigError) as caught:
        open_store(cfg, FakeClock())

    assert caught.value.problems == [
        "storage.url_env: environment variable IEP_DATABASE_URL is not set"
    ]


def test_backups_ask_for_the_snapshot_capability(tmp_path: Path) -> None:
    sqlite = SqliteStore(str(tmp_path / "iep.db"), FakeClock())

    assert snapshots_of(sqlite) is sqlite
    with pytest.raises(Conflict):
        snapshots_of(cast(Store, object()))  # a backend without file snapshots
