"""What only the PostgreSQL backend has: the singleton lock shared by nodes, the dialect."""

from typing import Any

import psycopg

from iep_appliance.clock import FakeClock
from iep_appliance.domain import ids
from iep_appliance.store.postgres.dialect import translate
from iep_appliance.store.postgres.singleton import SingletonLock
from iep_appliance.store.postgres.store import PostgresStore
from iep_appliance.store.protocols.snapshots import Snapshots
from tests.contract.test_store import new_message
from tests.support.postgres import fresh_schema
from tests.support.waiting import wait_until


def _connector(url: str) -> Any:
    return lambda: psycopg.connect(url, autocommit=True)


def test_one_node_holds_the_singleton_lock_and_another_takes_it_when_it_dies() -> None:
    with fresh_schema() as (url, _schema):
        key = 0x7E57_0000 + hash(_schema) % 1000
        first, second = SingletonLock(_connector(url), key), SingletonLock(_connector(url), key)
        try:
            assert first.try_acquire() is True
            assert first.try_acquire() is True  # held: still ours
            assert second.try_acquire() is False
            first.release()  # the node's session ends (a crash closes it the same way)
            assert second.try_acquire() is True
            assert first.try_acquire() is False
        finally:
            first.release()
            second.release()


def test_translation_of_sqlite_idioms() -> None:
    assert translate("SELECT a FROM t WHERE b = ? AND c = ?").sql == (
        "SELECT a FROM t WHERE b = %s AND c = %s"
    )
    numbered = translate("SELECT ?2, ?1, ?2")
    assert numbered.sql == "SELECT %s, %s, %s" and numbered.params(["a", "b"]) == ["b", "a", "b"]
    assert translate("UPDATE x SET y = :now WHERE z = :now").sql == (
        "UPDATE x SET y = %(now)s WHERE z = %(now)s"
    )
    assert translate("SELECT 'held:%' LIKE x FROM t").sql == "SELECT 'held:%%' LIKE x FROM t"
    assert translate("INSERT OR IGNORE INTO q (a) VALUES (?)").sql == (
        "INSERT INTO q (a) VALUES (%s) ON CONFLICT DO NOTHING"
    )
    assert translate("INSERT OR REPLACE INTO outbox (message_id, mime) VALUES (?, ?)").sql == (
        "INSERT INTO outbox (message_id, mime) VALUES (%s, %s)"
        " ON CONFLICT (message_id) DO UPDATE SET mime = EXCLUDED.mime"
    )
    assert "greatest(attempts - 1, 0)" in translate("UPDATE j SET a = max(attempts - 1, 0)").sql
    assert "max(id)" in translate("SELECT max(id) FROM j").sql
    assert translate("SELECT a FROM t WHERE id = ?", lock=True).sql.endswith(" FOR SHARE")
    assert not translate("SELECT count(*) FROM t", lock=True).sql.endswith(" FOR SHARE")
    assert '"window"' in translate("SELECT window FROM rate_windows").sql


async def test_a_job_due_on_one_node_wakes_the_schedulers_of_the_others() -> None:
    clock = FakeClock()
    with fresh_schema() as (url, schema):
        first = PostgresStore(url, clock, pool_size=2, search_path=schema)
        second = PostgresStore(url, clock, pool_size=2, search_path=schema)
        await first.open()
        await second.open()
        try:
            woken: list[str] = []
            second.on_enqueue(woken.append)
            tenant = await first.create_tenant("acme", "Acme", ["acme.test"])

            await first.accept_message(tenant.id, new_message(clock))

            await wait_until(lambda: len(woken) >= 1, timeout=10, message="the other node woken")
            assert woken[0] == ids.iso(clock.now())
        finally:
            await first.close()
            await second.close()


def test_postgresql_offers_no_file_snapshots() -> None:
    store = PostgresStore("postgresql://unused", FakeClock())
    assert not isinstance(store, Snapshots)


def test_the_postgresql_schema_has_every_sqlite_table_and_column(tmp_path: Any) -> None:
    """The two backends' migrations describe one schema: every table and column of SQLite's is
    in PostgreSQL's, and PostgreSQL has none SQLite lacks (a forgotten migration fails here)."""
    import sqlite3

    from iep_appliance.store.postgres.migrate import migrate as pg_migrate
    from iep_appliance.store.sqlite.migrate import migrate as sqlite_migrate

    lite = sqlite3.connect(tmp_path / "schema.db", isolation_level=None)
    sqlite_migrate(lite)
    tables = [
        r[0]
        for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not r[0].startswith("sqlite_")
    ]
    sqlite_cols = {t: {r[1] for r in lite.execute(f"PRAGMA table_info({t})")} for t in tables}
    with fresh_schema() as (url, schema), psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'SET search_path = "{schema}"')
        pg_migrate(conn)
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = %s",
            (schema,),
        ).fetchall()
    pg_cols: dict[str, set[str]] = {}
    for table, column in rows:
        pg_cols.setdefault(table, set()).add(column)
    pg_cols.pop("iep_schema_migrations")

    assert pg_cols == sqlite_cols
