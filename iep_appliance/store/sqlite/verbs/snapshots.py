"""The Snapshots verbs (store/protocols/snapshots.py) over SQLite; the SQL lives in the
per-table modules of store/sqlite/."""

import asyncio
from collections.abc import Callable

from iep_appliance.domain.retention import SnapshotInfo
from iep_appliance.store.sqlite import snapshot as q_snapshot
from iep_appliance.store.sqlite.store_base import StoreBase


class SnapshotVerbs(StoreBase):
    async def snapshot(
        self, dest: str, progress: Callable[[int, int], None] | None = None
    ) -> SnapshotInfo:
        return await asyncio.to_thread(q_snapshot.copy_database, self.db.path, dest, progress)

    async def snapshot_attachment_keys(self, path: str) -> list[str]:
        return await asyncio.to_thread(q_snapshot.attachment_keys, path)

    async def snapshot_forget_attachments(self, path: str, keys: list[str]) -> SnapshotInfo:
        return await asyncio.to_thread(q_snapshot.forget_attachments, path, keys)

    async def inspect_snapshot(self, path: str) -> SnapshotInfo:
        return await asyncio.to_thread(q_snapshot.inspect, path)

    def latest_schema_version(self) -> int:
        return q_snapshot.latest_schema_version()
