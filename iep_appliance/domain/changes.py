"""The change feed's rows: what one process changed, for every process on the store to forget.

Kinds: `key` (ref: key id), `tenant` (ref: tenant id; its keys, rules and routing),
`tenant_rules` (ref: tenant id), `queues` (ref: tenant id), `jobs` (scheduled jobs: the ticker
wakes), `reputation` (ref: tenant id).
"""

import msgspec


class NodeBeat(msgspec.Struct, frozen=True):
    """One process serving from the store, as its last heartbeat wrote it."""

    node_id: str
    host: str
    pid: int
    backend: str
    started_at: str
    heartbeat_at: str


class Change(msgspec.Struct, frozen=True):
    id: int
    kind: str
    ref: str
