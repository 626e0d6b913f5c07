"""`[providers.NAME]` tables: one Struct per provider `type`, joined in a tagged union.

`type = "smtp"` picks `SmtpProviderConfig`, `type = "outbox"` `OutboxProviderConfig`, the
HTTP-API providers `ses`, `sendgrid`, `mailgun` theirs (config_http_providers.py; msgspec's
`tag_field="type"`). A new kind of provider is one Struct here (a subclass of
`ProviderSection` with its own `tag`) added to `ProviderConfig`, and one builder in
`delivery/providers/registry.py`; `config.load` validates it, reports its bad keys and
resolves its `*_env` secrets with no other change.
"""

from typing import Annotated, Literal, get_args

from msgspec import Meta

from iep_appliance.config_http_providers import (
    MailgunProviderConfig,
    SendgridProviderConfig,
    SesProviderConfig,
)
from iep_appliance.config_provider_section import ProviderSection, Secret

__all__ = [
    "PROVIDER_TYPES",
    "TYPE_DESCRIPTION",
    "MailgunProviderConfig",
    "OutboxProviderConfig",
    "ProviderConfig",
    "ProviderSection",
    "Secret",
    "SendgridProviderConfig",
    "SesProviderConfig",
    "SmtpProviderConfig",
]

TYPE_DESCRIPTION = "Provider kind."
"""What the `type` key (the union's tag, which carries no description of its own) means."""


class OutboxProviderConfig(ProviderSection, frozen=True, tag="outbox"):
    """The built-in outbox: keeps the final MIME for preview, delivers nowhere."""


class SmtpProviderConfig(ProviderSection, frozen=True, tag="smtp"):
    """An SMTP relay, through a pool of reused connections."""

    host: Annotated[str, Meta(description="SMTP relay host (smtp only).")] = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65535, description="SMTP relay port (smtp only).")] = 25
    security: Annotated[
        Literal["none", "starttls", "tls"], Meta(description="Transport security (smtp only).")
    ] = "none"
    username: Annotated[
        str, Meta(description="SMTP username; empty means no authentication (smtp only).")
    ] = ""
    password_env: Annotated[
        str, Meta(description="Environment variable holding the SMTP password (smtp only).")
    ] = ""
    connections: Annotated[
        int, Meta(ge=1, le=64, description="Reused SMTP connections in the pool (smtp only).")
    ] = 16
    timeout_seconds: Annotated[
        float, Meta(gt=0, description="Timeout for each SMTP step (smtp only).")
    ] = 30

    def secrets(self) -> tuple[Secret, ...]:
        return (Secret("password", "password_env", bool(self.username), "username is set"),)


ProviderConfig = (
    SmtpProviderConfig
    | OutboxProviderConfig
    | SesProviderConfig
    | SendgridProviderConfig
    | MailgunProviderConfig
)
PROVIDER_TYPES: dict[str, type[ProviderSection]] = {
    str(kind.__struct_config__.tag): kind for kind in get_args(ProviderConfig)
}
"""Each `type` value and its Struct, in the union's order."""
