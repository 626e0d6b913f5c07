"""Processes sharing one store (worker processes, or nodes): leases by owner, the change feed,
rate windows decided in the store."""

from datetime import datetime
from typing import Protocol

from iep_appliance.domain.changes import Change, NodeBeat
from iep_appliance.domain.ratelimit import Limits, RateDecision


class WorkerStore(Protocol):
    node_id: str | None  # the lease owner claims record (None: a single-process server)

    async def note_change(self, kind: str, ref: str) -> int:
        """Append to the change feed (a key, tenant or queue changed); its id."""

    async def last_change(self) -> int:
        """The newest change id (0 when none)."""

    async def changes_after(self, after: int) -> list[Change]:
        """The changes after id `after`, oldest first (at most 1,000)."""

    async def purge_changes(self, before: datetime) -> int:
        """Drop changes noted before `before`."""

    async def reserve_rate(self, tenant_id: str, limits: Limits, n: int) -> RateDecision:
        """Decide over the tenant's current windows and add `n` when allowed, atomically
        across every process on the store."""

    async def refund_rate(self, tenant_id: str, n: int) -> None:
        """Give `n` back to the tenant's current windows (never below 0)."""

    async def heartbeat(self, beat: NodeBeat) -> None:
        """Write this process's row of `nodes` (its heartbeat_at now)."""

    async def list_nodes(self) -> list[NodeBeat]:
        """Every process that wrote a heartbeat, by node id."""

    async def hold_singletons(self) -> bool:
        """Whether this process may run the singletons now: SQLite (one machine) always;
        PostgreSQL while this node holds the singleton lock (a dead node's goes with it)."""

    async def release_owned_leases(self, owner: str, current_owners: list[str]) -> int:
        """Release `owner`'s leases (and, given the current owners, every lease none of them
        holds); their messages back to queued."""
