"""A capability of a file-based backend (SQLite), not part of `Store`: online copies
of the whole store and checks of such copies. `services/backups.py` asks for it with
`isinstance(store, Snapshots)`; a backend without it has its own backup tooling."""

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from iep_appliance.domain.retention import SnapshotInfo


@runtime_checkable
class Snapshots(Protocol):
    async def snapshot(
        self, dest: str, progress: Callable[[int, int], None] | None = None
    ) -> SnapshotInfo:
        """A consistent online copy of the whole store into the new file `dest`, while writes
        go on; `progress(done, total)` after each step. Returns the copy's counts."""

    async def snapshot_attachment_keys(self, path: str) -> list[str]:
        """The blob keys the attachment rows of a snapshot file refer to, sorted."""

    async def snapshot_forget_attachments(self, path: str, keys: list[str]) -> SnapshotInfo:
        """Delete from a snapshot file the attachment rows of `keys` (files a purge removed
        after the snapshot); its counts afterwards."""

    async def inspect_snapshot(self, path: str) -> SnapshotInfo:
        """Integrity verdict, schema version and counts of a snapshot file (not this store's
        own data). Raises ValueError when it is not a usable snapshot."""

    def latest_schema_version(self) -> int:
        """The newest schema version this release knows."""
