"""The row helpers of store/sqlite/rows.py the aggregate modules share: a Struct's fields as a
statement's parameters (values_of, the inverse of struct_of), one row or None, and a page."""

import sqlite3

import msgspec
import pytest

from iep_appliance.domain.webhooks import WebhookDelivery
from iep_appliance.store.sqlite import rows


class Item(msgspec.Struct, frozen=True):
    id: str
    tags: tuple[str, ...]
    active: bool
    created_at: str


def test_values_of_gives_the_fields_in_order_with_the_encoded_ones_in_their_place() -> None:
    item = Item("i1", ("a", "b"), True, "2026-01-01")
    params = rows.values_of(item, tags=rows.dumps(list(item.tags)), active=int(item.active))
    assert params == ("i1", '["a","b"]', 1, "2026-01-01")
    back = rows.struct_of(Item, params, tags=tuple(rows.loads(params[1])), active=bool(params[2]))
    assert back == item


def test_values_of_refuses_a_field_the_struct_does_not_have() -> None:
    with pytest.raises(ValueError, match="no field activ"):
        rows.values_of(Item("i1", (), True, "2026-01-01"), activ=1)


def test_values_of_binds_a_webhook_delivery_as_its_insert_lists_it() -> None:
    d = WebhookDelivery("d1", "e1", "t1", "w1", "sent", None, 1, 200, 5, None, None, "now")
    assert rows.values_of(d, job_id=7) == (*msgspec.structs.astuple(d)[:-1], 7)


@pytest.fixture
def conn() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (tenant_id TEXT, created_at TEXT, id TEXT)")
    conn.executemany(
        "INSERT INTO t VALUES (?, ?, ?)",
        [("a", "1", "x"), ("a", "1", "y"), ("a", "2", "x"), ("b", "1", "z")],
    )
    return conn


def test_one_decodes_the_row_found_or_gives_none(conn: sqlite3.Connection) -> None:
    sql = "SELECT id, created_at FROM t WHERE tenant_id = ? ORDER BY created_at, id LIMIT 1"
    assert rows.one(conn, sql, ("a",), lambda r: f"{r[0]}@{r[1]}") == "x@1"
    assert rows.one(conn, sql, ("c",), lambda r: f"{r[0]}@{r[1]}") is None


def test_page_binds_the_scope_the_cursor_and_the_limit_in_order(conn: sqlite3.Connection) -> None:
    sql = (
        "SELECT id FROM t WHERE tenant_id = ? AND (created_at, id) > (?, ?)"
        " ORDER BY created_at, id LIMIT ?"
    )
    first = rows.page(conn, sql, ("a",), rows.FIRST_PAGE, 2, lambda r: r[0])
    assert first == ["x", "y"]
    assert rows.page(conn, sql, ("a",), ("1", "y"), 2, lambda r: r[0]) == ["x"]
