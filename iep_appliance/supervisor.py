"""Supervised background tasks: each is logged if it dies and cancelled at stop.

The housekeeping loops, the rate-limit flusher, the ticker, retention, a config reload and the
providers it retires all run here; `aclose()` cancels and awaits whatever is still running.
"""

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("iep.runtime")


class Supervisor:
    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def spawn(self, coro: Coroutine[Any, Any, object], name: str) -> asyncio.Task[None]:
        """A supervised task: logged if it dies, cancelled at stop."""

        async def supervised() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("task.crashed", extra={"fields": {"task": name}})

        def close_unstarted(task: asyncio.Task[None]) -> None:
            # Cancelled before its first step, `supervised` never awaited `coro`: close it, or
            # it warns "coroutine was never awaited" (an error under the strict test settings).
            coro.close()

        task = asyncio.create_task(supervised(), name=name)
        task.add_done_callback(close_unstarted)
        self._tasks.append(task)
        return task

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
