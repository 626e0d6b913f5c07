"""What a PostgreSQL write function is handed (`PgConnection`: the store's SQLite SQL, translated)
and the errors that mean "run it again" (RACES) or "the database is unavailable"."""

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.adapt import Loader
from psycopg.types.numeric import IntDumper
from psycopg_pool import PoolTimeout

from iep_appliance.domain.errors import StoreUnavailable
from iep_appliance.store.postgres.dialect import translate

RACES = (
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.UniqueViolation,
)
_UNAVAILABLE = (
    psycopg.OperationalError,
    pg_errors.DiskFull,
    pg_errors.ReadOnlySqlTransaction,
    pg_errors.AdminShutdown,
    PoolTimeout,
)


class _NumericLoader(Loader):
    """`numeric` as int when whole (SQLite's sum() of integers is an integer), else float."""

    def load(self, data: Any) -> int | float:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


class _BoolAsInt(IntDumper):
    """Python bools into integer columns as 1/0, as sqlite3 stores them."""

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"

    def quote(self, obj: Any) -> bytes:
        return self.dump(obj)


class _Cursor:
    """What the verbs use of a sqlite3 cursor: fetchone, fetchall, rowcount, iteration."""

    __slots__ = ("_cur",)

    def __init__(self, cur: psycopg.ClientCursor[Any]) -> None:
        self._cur = cur

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._cur.description is None:
            return None
        return self._cur.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self._cur.description is None:
            return []
        return self._cur.fetchall()

    def __iter__(self) -> Any:
        return iter(self.fetchall())

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount


class PgConnection:
    """A psycopg connection that speaks the store's (SQLite) SQL: `execute`, `executemany`."""

    __slots__ = ("_conn", "_lock")

    def __init__(self, conn: psycopg.Connection[Any], lock: bool = False) -> None:
        self._conn = conn
        self._lock = lock

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> _Cursor:
        t = translate(sql, self._lock)
        cur = psycopg.ClientCursor(self._conn)
        cur.execute(t.sql, t.params(params) if params else None)
        return _Cursor(cur)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any] | Mapping[str, Any]]) -> _Cursor:
        t = translate(sql)
        cur = psycopg.ClientCursor(self._conn)
        cur.executemany(t.sql, [t.params(p) for p in seq])
        return _Cursor(cur)


def configure(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_loader("numeric", _NumericLoader)
    conn.adapters.register_dumper(bool, _BoolAsInt)


def unavailable(exc: BaseException) -> StoreUnavailable | None:
    if isinstance(exc, StoreUnavailable):
        return exc
    if isinstance(exc, _UNAVAILABLE):
        return StoreUnavailable(f"database unavailable: {type(exc).__name__}")
    return None
