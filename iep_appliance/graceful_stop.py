"""The last step of stopping a pool of job workers (the delivery engine's senders, the webhook
dispatcher's workers): they were told to stop; give them `grace` seconds to finish what they
hold, then cancel the ones still running and release the jobs they held, so that another
claimer (this process after a restart, another worker or node) sends them — not lost, and not
counted as an attempt."""

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping

from iep_appliance.domain.models import Job


async def finish_or_release(
    workers: Collection[asyncio.Task[None]],
    grace: float,
    inflight: Mapping[int, Job],
    release: Callable[[list[Job]], Awaitable[None]],
) -> list[Job] | None:
    """None when every worker finished within `grace`; else the jobs released (maybe none)."""
    if not workers:
        return None
    _done, running = await asyncio.wait(workers, timeout=grace)
    if not running:
        return None
    leftover = list(inflight.values())
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    if leftover:
        await release(leftover)
    return leftover
