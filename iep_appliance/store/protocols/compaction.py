"""A capability of a file-based backend (SQLite), not part of `Store`: rewrite the file so
bytes of deleted rows are gone from it and its write-ahead log. A GDPR erase asks for it with
`isinstance(store, Compaction)`; a server backend (PostgreSQL) deletes the rows and has no
file of its own to rewrite."""

from typing import Protocol, runtime_checkable


@runtime_checkable
class Compaction(Protocol):
    async def compact(self) -> None:
        """Rewrite the database so deleted bytes are gone from the file and its WAL
        (checkpoint, VACUUM, checkpoint with truncation)."""
