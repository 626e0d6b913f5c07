"""A provider's send-rate limit (`max_per_second`), shared by the SMTP and the HTTP-API
providers."""

import asyncio
import time


class Pacer:
    """Spaces sends `1 / max_per_second` apart (0: unlimited)."""

    def __init__(self, max_per_second: float) -> None:
        self._interval = 1.0 / max_per_second if max_per_second > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self._interval:
            return
        async with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self._interval
        if wait > 0:
            await asyncio.sleep(wait)
