"""The processes serving from this store (nodes, and their workers), as their heartbeats say:
for the dashboard's Nodes page."""

import msgspec

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.store.base import Store

STALE_SECONDS = 30.0  # no heartbeat for this long: shown as gone


class NodeRow(msgspec.Struct, frozen=True):
    node_id: str
    host: str
    pid: int
    backend: str
    started_at: str
    heartbeat_at: str
    seconds_ago: float
    alive: bool


class NodeDirectory:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def list(self) -> list[NodeRow]:
        now = self.clock.now()
        rows = []
        for beat in await self.store.list_nodes():
            ago = max(0.0, (now - ids.parse_iso(beat.heartbeat_at)).total_seconds())
            rows.append(
                NodeRow(
                    beat.node_id,
                    beat.host,
                    beat.pid,
                    beat.backend,
                    beat.started_at,
                    beat.heartbeat_at,
                    round(ago, 1),
                    ago < STALE_SECONDS,
                )
            )
        return rows
