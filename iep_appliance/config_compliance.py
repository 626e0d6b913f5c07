"""`iep.toml` keys of the compliance features (audit, IP allowlists, traces), beside config.py."""

import ipaddress
from typing import Annotated

import msgspec
from msgspec import Meta


class TelemetryConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """OpenTelemetry traces over OTLP/HTTP (DESIGN §10.5); off while `otlp_endpoint` is empty."""

    otlp_endpoint: Annotated[
        str,
        Meta(
            description='OTLP/HTTP traces endpoint, e.g. "http://127.0.0.1:4318/v1/traces";'
            " empty: tracing off (the SDK is not even imported)."
        ),
    ] = ""
    service_name: Annotated[str, Meta(description="The `service.name` resource of spans.")] = "iep"

    def __post_init__(self) -> None:
        if self.otlp_endpoint and not self.otlp_endpoint.startswith(("http://", "https://")):
            raise ValueError("otlp_endpoint must be an http:// or https:// URL (or empty)")


TrustedProxies = Annotated[
    list[str],
    Meta(
        description="CIDRs of reverse proxies whose X-Forwarded-For names the client (API key"
        ' IP allowlists, audit log, login limits), e.g. ["127.0.0.1/32", "10.0.0.0/8"];'
        " empty: the socket peer is the client."
    ),
]
AuditRetentionDays = Annotated[
    int, Meta(ge=0, description="Audit log entries are purged after this many days; 0 = never.")
]


def check_cidrs(values: list[str]) -> None:
    """Raise ValueError naming the first entry of `trusted_proxies` that is not a CIDR."""
    for i, value in enumerate(values):
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise ValueError(f"trusted_proxies[{i}] {value!r} is not a CIDR ({exc})") from None
