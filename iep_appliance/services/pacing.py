"""The wait between the rounds of a long-running service task (an audit or retention purge,
the change poller): a rest that a stop cuts short."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable


async def stopped_during(stopping: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds`, or less when `stopping` is set meanwhile; True when it is set (the task
    should end instead of running another round)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    return stopping.is_set()


async def run_rounds(
    stopping: asyncio.Event,
    seconds: Callable[[], float],
    work: Callable[[], Awaitable[object]],
    log: logging.Logger,
    failed: str,
) -> None:
    """Rest `seconds()` (read before each rest, so a config reload applies), then run
    `work()`, until `stopping` is set. A round that raises is logged as the event `failed`
    (with its traceback) and the next one comes as usual."""
    while not stopping.is_set():
        if await stopped_during(stopping, seconds()):
            return
        try:
            await work()
        except Exception:
            log.exception(failed)
