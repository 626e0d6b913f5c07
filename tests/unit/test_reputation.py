"""domain/reputation.py: rates and the state they put a tenant in, as a table."""

import pytest

from iep_appliance.domain.reputation import assess


@pytest.mark.parametrize(
    ("messages", "bounces", "complaints", "state"),
    [
        (0, 0, 0, "ok"),
        (50, 40, 10, "ok"),  # under min_messages: too few to judge
        (1000, 10, 0, "ok"),
        (1000, 25, 0, "warning"),  # half of the 5 % pause rate
        (1000, 50, 0, "paused"),
        (1000, 0, 2, "warning"),  # 0.2 % complaints: over half of 0.3 %
        (1000, 0, 3, "paused"),
    ],
)
def test_states(messages: int, bounces: int, complaints: int, state: str) -> None:
    r = assess(
        messages,
        bounces,
        complaints,
        window_days=7,
        pause_bounce_rate=0.05,
        pause_complaint_rate=0.003,
        min_messages=100,
    )

    assert r.state == state
    assert r.bounce_rate == (bounces / messages if messages else 0.0)
