"""What every SqliteStore verb mixin (store/sqlite/verbs/) shares: the database, the clock,
the wake-ups."""

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from iep_appliance.domain import ids
from iep_appliance.store.sqlite.db import Database


class TimeSource(Protocol):
    """The part of the runtime's Clock the verbs read (store.py is given the Clock itself)."""

    def now(self) -> datetime: ...
    def new_id(self) -> str: ...


class StoreBase:
    db: Database
    clock: TimeSource
    webhook_attempts: int
    node_id: str | None = None  # the lease owner claims record (None: the only process)
    _listeners: list[Callable[[str], None]]

    def _notify(self, run_at: str) -> None:
        """Tell the scheduler a job became due at `run_at` (it may sleep less)."""
        for listener in self._listeners:
            listener(run_at)

    def _now(self) -> str:
        return ids.iso(self.clock.now())

    def new_id(self) -> str:
        return self.clock.new_id()
