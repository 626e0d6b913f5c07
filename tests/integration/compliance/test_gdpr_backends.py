"""GDPR erase over either backend: only a file-based store (SQLite) has a file to compact
afterwards (the `Compaction` capability); on PostgreSQL the erase deletes the rows and the
request still ends `done`. The wiring hands the service the store's compaction or none."""

from pathlib import Path

from iep_appliance.blobs import LocalBlobs
from iep_appliance.clock import FakeClock
from iep_appliance.config import load
from iep_appliance.services.gdpr import GdprService
from iep_appliance.store.base import Compaction
from iep_appliance.store.postgres.store import PostgresStore
from iep_appliance.store.sqlite.store import SqliteStore
from iep_appliance.supervisor import Supervisor
from iep_appliance.wiring_compliance import wire_compliance
from tests.contract.test_store import accept
from tests.support.postgres import fresh_schema
from tests.support.waiting import wait_until


def test_only_the_sqlite_store_offers_compaction(tmp_path: Path) -> None:
    sqlite = SqliteStore(str(tmp_path / "iep.db"), FakeClock())
    postgres = PostgresStore("postgresql://unused", FakeClock())
    assert isinstance(sqlite, Compaction)
    assert not isinstance(postgres, Compaction)
    cfg = load(None, {})
    blobs = LocalBlobs(str(tmp_path / "att"))
    tasks = Supervisor()
    assert wire_compliance(cfg, sqlite, blobs, FakeClock(), tasks).gdpr.compact is not None
    assert wire_compliance(cfg, postgres, blobs, FakeClock(), tasks).gdpr.compact is None


async def test_an_erase_on_postgresql_deletes_the_rows_and_finishes(tmp_path: Path) -> None:
    clock = FakeClock()
    tasks = Supervisor()
    with fresh_schema() as (url, schema):
        store = PostgresStore(url, clock, pool_size=2, search_path=schema)
        await store.open()
        try:
            tenant = await store.create_tenant("acme", "Acme", ["acme.test"])
            mine = await accept(store, tenant, clock, to=("eve@example.org",))
            kept = await accept(store, tenant, clock, to=("bob@example.org",))
            await store.add_suppressions(tenant.id, ["eve@example.org"], "manual")
            gdpr = GdprService(store, LocalBlobs(str(tmp_path)), clock, tasks.spawn, None)

            request = await gdpr.erase(tenant.id, "Eve@Example.org")

            assert request.state == "pending" and request.counts["messages"] == 1
            assert await store.get_message(tenant.id, mine) is None
            assert await store.get_message(tenant.id, kept) is not None
            assert (await gdpr.export(tenant.id, "eve@example.org"))["messages"] == []
            # still blocked, by its hash only
            assert await store.suppressed_among(tenant.id, ["eve@example.org"]) == [
                "eve@example.org"
            ]
            listed = await store.list_suppressions(tenant.id, None, "", 10)
            assert "eve@example.org" not in str(listed)

            async def done() -> bool:
                found = await gdpr.requests(tenant.id)
                return [r.state for r in found] == ["done"]

            await wait_until(done, timeout=10, message="the erase request done")
        finally:
            await tasks.aclose()
            await store.close()
