"""Per-provider circuit breaker over a rolling window of outcomes (DESIGN §5 "Providers").

closed → open when, within `window_seconds`, at least `min_requests` outcomes were recorded and
the failure share reached `error_rate`; open → half_open once `cooldown_seconds` have passed, with
exactly one trial request; the trial's result closes it (window cleared) or opens it again.
Pure: `now` is monotonic seconds passed in; not thread-safe (one event loop owns it).

What counts (DESIGN §10.1): `health_failure` alone says whether an outcome is the provider's
fault — refused or dropped connections, timeouts, TLS or AUTH failures, a `421`. A 4xx/5xx
reply to one message at MAIL, RCPT or DATA is that message's outcome: the provider answered,
which is a success as far as its breaker is concerned.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

from iep_appliance.domain.outcomes import SendOutcome

__all__ = ["Breaker", "BreakerState", "health_failure"]

# Seconds a job waits while a half-open trial is in flight (its result is not known yet).
TRIAL_WAIT_SECONDS = 2.0


def health_failure(outcome: SendOutcome) -> bool:
    """Does this outcome say the provider is unhealthy (not just refusing this message)?"""
    if outcome.ok:
        return False
    if outcome.stage in ("network", "timeout", "connect", "auth") or outcome.network_error:
        return True
    if outcome.code == 421 or any(r.code == 421 for r in outcome.rejected):
        return True  # "service not available, closing transmission channel"
    if outcome.stage == "http":
        return outcome.code is None or outcome.code == 429 or outcome.code >= 500
    return False


BreakerState = Literal["closed", "open", "half_open"]

_STATE_CODES: dict[BreakerState, int] = {"closed": 0, "open": 1, "half_open": 2}


class Breaker:
    """One provider's breaker; `allow()` before a send, `record()` with its result."""

    __slots__ = (
        "_events",
        "_failures",
        "_opened_at",
        "_state",
        "_trial_in_flight",
        "cooldown_seconds",
        "error_rate",
        "min_requests",
        "window_seconds",
    )

    def __init__(
        self,
        error_rate: float,
        min_requests: int,
        window_seconds: float,
        cooldown_seconds: float,
    ) -> None:
        if not 0 < error_rate <= 1:
            raise ValueError(f"error_rate must be in (0, 1], got {error_rate}")
        if min_requests < 1:
            raise ValueError(f"min_requests must be at least 1, got {min_requests}")
        if window_seconds <= 0 or cooldown_seconds < 0:
            raise ValueError("window_seconds must be positive and cooldown_seconds not negative")
        self.error_rate = error_rate
        self.min_requests = min_requests
        self.window_seconds = window_seconds
        self.cooldown_seconds = cooldown_seconds
        self._events: deque[tuple[float, bool]] = deque()
        self._failures = 0
        self._state: BreakerState = "closed"
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def state_code(self) -> int:
        """0 closed, 1 open, 2 half_open: the value of the Prometheus gauge."""
        return _STATE_CODES[self._state]

    def allow(self, now: float) -> bool:
        """May a request go to this provider now? In half_open, only the one trial may."""
        if self._state == "closed":
            return True
        if self._state == "open":
            if now - self._opened_at < self.cooldown_seconds:
                return False
            self._state = "half_open"
            self._trial_in_flight = False
        if self._trial_in_flight:
            return False
        self._trial_in_flight = True
        return True

    def wait_seconds(self, now: float) -> float:
        """While requests are refused: seconds until a trial may go (0 when one may now)."""
        if self._state == "closed":
            return 0.0
        if self._state == "open":
            return max(0.0, self._opened_at + self.cooldown_seconds - now)
        return TRIAL_WAIT_SECONDS if self._trial_in_flight else 0.0

    def record(self, success: bool, now: float) -> None:
        """Record a finished request. While open, late results of earlier requests are ignored."""
        if self._state == "open":
            return
        if self._state == "half_open":
            if success:
                self._close()
            else:
                self._open(now)
            return
        self._events.append((now, success))
        if not success:
            self._failures += 1
        self._prune(now)
        count = len(self._events)
        if count >= self.min_requests and self._failures / count >= self.error_rate:
            self._open(now)

    def _prune(self, now: float) -> None:
        horizon = now - self.window_seconds
        events = self._events
        while events and events[0][0] <= horizon:
            _, ok = events.popleft()
            if not ok:
                self._failures -= 1

    def _open(self, now: float) -> None:
        self._state = "open"
        self._opened_at = now
        self._trial_in_flight = False

    def _close(self) -> None:
        self._state = "closed"
        self._events.clear()
        self._failures = 0
        self._trial_in_flight = False
