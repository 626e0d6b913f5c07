"""A tenant's sending reputation (DESIGN §10.3): bounce and complaint rates over a rolling
window and the state they put it in. Pure; the counts come in as values.

`warning` from half of a pause threshold; `paused` at or over one, and only past
`min_messages` (three bounces out of ten says little). Gmail and Yahoo's 2024 rules ask bulk
senders to stay under 0.3 % complaints.
"""

import msgspec


class Reputation(msgspec.Struct, frozen=True, kw_only=True):
    messages: int
    bounces: int
    complaints: int
    bounce_rate: float
    complaint_rate: float
    window_days: int
    state: str  # "ok" | "warning" | "paused"


def assess(
    messages: int,
    bounces: int,
    complaints: int,
    *,
    window_days: int,
    pause_bounce_rate: float,
    pause_complaint_rate: float,
    min_messages: int,
) -> Reputation:
    bounce_rate = bounces / messages if messages else 0.0
    complaint_rate = complaints / messages if messages else 0.0
    state = "ok"
    if messages >= min_messages:
        if bounce_rate >= pause_bounce_rate or complaint_rate >= pause_complaint_rate:
            state = "paused"
        elif bounce_rate >= pause_bounce_rate / 2 or complaint_rate >= pause_complaint_rate / 2:
            state = "warning"
    return Reputation(
        messages=messages,
        bounces=bounces,
        complaints=complaints,
        bounce_rate=round(bounce_rate, 6),
        complaint_rate=round(complaint_rate, 6),
        window_days=window_days,
        state=state,
    )


class ReputationCounts(msgspec.Struct, frozen=True):
    """A tenant's messages (sent or bounced), bounced ones and complaints since a time."""

    messages: int
    bounced: int
    complaints: int


class ReputationDay(msgspec.Struct, frozen=True):
    """The same counts on one UTC day (`day` is YYYY-MM-DD)."""

    day: str
    messages: int
    bounced: int
    complaints: int


class ReputationHold(msgspec.Struct, frozen=True):
    """A tenant's hold: since when it is held (None: not now), when it was last resumed."""

    held_since: str | None
    resumed_at: str | None
