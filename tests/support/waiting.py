"""Poll a condition to a deadline instead of sleeping "to let things settle".

`wait_until` returns the predicate's first truthy value as soon as it holds and raises
AssertionError (with the caller's message and the last value seen) when the deadline passes.
"""

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def wait_until(
    predicate: Callable[[], Any | Awaitable[Any]],
    timeout: float = 10.0,  # noqa: ASYNC109 -- the suite-wide signature (STYLE §5); polls, no I/O
    interval: float = 0.02,
    message: str = "",
) -> Any:
    """Await until `predicate()` (sync, or async returning an awaitable) is truthy.

    Returns:
        The first truthy value the predicate returned.

    Raises:
        AssertionError: the predicate stayed falsy for `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(_timeout_text(message, timeout, value))
        await asyncio.sleep(interval)


def wait_until_sync(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "",
) -> Any:
    """Blocking twin of `wait_until` for sync tests and helper threads (predicate must be sync)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            _close(value)
            raise TypeError("wait_until_sync got an async predicate; use wait_until")
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(_timeout_text(message, timeout, value))
        time.sleep(interval)


def _timeout_text(message: str, timeout: float, last: Any) -> str:
    what = message or "condition"
    return f"{what} not met within {timeout:g}s (last value: {last!r})"


def _close(awaitable: Any) -> None:
    # Close an un-awaited coroutine so it does not raise "never awaited" under filterwarnings=error.
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()
