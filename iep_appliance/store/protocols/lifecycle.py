"""Opening, closing and probing a store, and hearing of newly due jobs."""

from collections.abc import Callable
from typing import Protocol


class Lifecycle(Protocol):
    async def open(self) -> None:
        """Create the database if needed, apply migrations, start the writer."""

    async def close(self) -> None:
        """Flush pending writes and close every connection."""

    async def ping(self) -> None:
        """A real write probe (raises when the store cannot commit)."""

    def on_enqueue(self, listener: Callable[[str], None]) -> None:
        """Call `listener(run_at)` after a commit that made a job due at `run_at`."""
