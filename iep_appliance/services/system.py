"""What the API and the dashboard ask of the running appliance itself: readiness, metrics,
each provider's health, request timing (the `Health` the wiring builds), and the settings the
"SMTP & compatible APIs" page shows. Protocols and values only: no HTTP types, no lifecycle."""

from typing import Any, Protocol

import msgspec

from iep_appliance.services.dashboard import ProviderHealth


class Health(Protocol):
    async def readiness(self) -> dict[str, Any]:
        """`{"status": "ready" | "not_ready", "checks": {...}}` (DESIGN §10.1)."""
        ...

    async def metrics_text(self) -> bytes:
        """The Prometheus exposition, gauges refreshed first."""
        ...

    async def provider_health(self) -> list[ProviderHealth]:
        """Each provider's breaker state and newest failure, over every live process."""
        ...

    def observe_request(
        self, method: str, route: str, status: int, seconds: float, path: str
    ) -> None:
        """One request's latency into the histogram, and its access-log line when enabled."""
        ...


class ConnectInfo(msgspec.Struct, frozen=True):
    """`[submission]` and `[server]` as the connect page shows them (bound at start)."""

    enabled: bool
    host: str
    port: int
    tls_port: int
    starttls: bool
    max_message_bytes: int
    server_host: str
