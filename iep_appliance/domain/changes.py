"""The change feed's rows: what one process changed, for every process on the store to forget.

Kinds: `key` (ref: key id), `tenant` (ref: tenant id; its keys, rules and routing),
`tenant_rules` (ref: tenant id), `queues` (ref: tenant id), `jobs` (scheduled jobs: the ticker
wakes), `reputation` (ref: tenant id).
"""

import msgspec


class ProviderBeat(msgspec.Struct, frozen=True):
    """One provider as one process sees it: its breaker state and its newest failure (breakers
    are per process, so a dashboard answered by any worker or node merges every process's)."""

    name: str
    state: str  # closed | open | half_open
    last_error: str | None = None
    error_at: str | None = None  # ISO wall-clock time of last_error


class NodeBeat(msgspec.Struct, frozen=True):
    """One process serving from the store, as its last heartbeat wrote it."""

    node_id: str
    host: str
    pid: int
    backend: str
    started_at: str
    heartbeat_at: str
    providers: tuple[ProviderBeat, ...] = ()


class Change(msgspec.Struct, frozen=True):
    id: int
    kind: str
    ref: str


_SEVERITY = {"closed": 0, "half_open": 1, "open": 2}


def merge_provider_beats(views: list[tuple[ProviderBeat, ...]]) -> list[ProviderBeat]:
    """One row per provider from every live process's view: the worst breaker state (open >
    half_open > closed; a process may have opened its own) and the newest failure of any.
    Providers in the order first seen."""
    merged: dict[str, ProviderBeat] = {}
    for view in views:
        for beat in view:
            seen = merged.get(beat.name)
            if seen is None:
                merged[beat.name] = beat
                continue
            worse = _SEVERITY.get(beat.state, 0) > _SEVERITY.get(seen.state, 0)
            newer = beat.error_at is not None and (seen.error_at or "") < beat.error_at
            error = (beat.last_error, beat.error_at) if newer else (seen.last_error, seen.error_at)
            merged[beat.name] = ProviderBeat(
                beat.name, beat.state if worse else seen.state, error[0], error[1]
            )
    return list(merged.values())
