"""The only module that reads the clock or the CSPRNG. Tests pass a FakeClock."""

import asyncio
import os
import random
import time
from datetime import UTC, datetime, timedelta

from iep_appliance.domain import ids


class Clock:
    def __init__(self) -> None:
        # Id randomness needs uniqueness, not secrecy: a seeded PRNG avoids a getrandom()
        # syscall per id (which also releases the GIL to the writer thread mid-request).
        self._ids = random.Random(os.urandom(32))

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def random(self, n: int) -> bytes:
        return os.urandom(n)

    def new_id(self) -> str:
        return ids.uuid7(time.time_ns() // 1_000_000, self._ids.randbytes(10))

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock(Clock):
    """A clock that moves only when told: `advance(60)`. Sleepers wake when time passes."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__()
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def new_id(self) -> str:
        return ids.uuid7(int(self._now.timestamp() * 1000), os.urandom(10))

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        # Yield, but never wait real time: tests advance the clock and poll.
        await asyncio.sleep(0)
