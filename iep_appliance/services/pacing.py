"""The wait between the rounds of a long-running service task (an audit or retention purge,
the change poller): a rest that a stop cuts short."""

import asyncio
import contextlib


async def stopped_during(stopping: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds`, or less when `stopping` is set meanwhile; True when it is set (the task
    should end instead of running another round)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    return stopping.is_set()
