"""A tenant's named queues: priority, rate limit, retry schedule and state."""

from datetime import datetime
from typing import Protocol

from iep_appliance.domain.models import (
    Queue,
    QueueStats,
)


class QueueStore(Protocol):
    async def create_queue(self, queue: Queue) -> Queue:
        """Raises Conflict when the tenant has a queue of that name."""

    async def default_queue(self, tenant_id: str) -> Queue:
        """The tenant's `default` queue, created on first use."""

    async def get_queue(self, tenant_id: str, queue_id: str) -> Queue | None: ...
    async def queue_by_name(self, tenant_id: str, name: str) -> Queue | None: ...
    async def list_queues(self, tenant_id: str, after: str, limit: int) -> list[Queue]:
        """By name, after the last name seen."""

    async def tuned_queues(self) -> list[Queue]:
        """Every tenant's queues with a rate limit or a retry override (delivery's view)."""

    async def update_queue(self, queue: Queue) -> Queue | None:
        """New priority / rate / retry schedule; a new priority re-ranks waiting jobs."""

    async def set_queue_state(self, tenant_id: str, queue_id: str, state: str) -> Queue | None:
        """active | paused | draining; pausing parks the queue's waiting jobs."""

    async def delete_queue(self, tenant_id: str, queue_id: str) -> bool:
        """Raises Conflict for `default` or a queue with unfinished jobs."""

    async def queue_stats(self, queue_id: str, now: datetime) -> QueueStats:
        """Depth by job state, oldest due job, outcomes in the last hour (id already scoped)."""
