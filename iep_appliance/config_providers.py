"""`[providers.NAME]` tables: one Struct per provider `type`, joined in a tagged union.

`type = "smtp"` picks `SmtpProviderConfig`, `type = "outbox"` `OutboxProviderConfig`
(msgspec's `tag_field="type"`). A new kind of provider is one Struct here (a subclass of
`ProviderSection` with its own `tag`) added to `ProviderConfig`, and one builder in
`delivery/providers/registry.py`; `config.load` validates it, reports its bad keys and
resolves its `*_env` secrets with no other change.
"""

from typing import Annotated, Literal, NamedTuple, get_args

import msgspec
from msgspec import Meta

TYPE_DESCRIPTION = "Provider kind."
"""What the `type` key (the union's tag, which carries no description of its own) means."""


class Secret(NamedTuple):
    """A secret `config.load` reads from the environment: `field` gets the value of the
    variable named by the `env_key` key; `required` (because `when`) or not looked up."""

    field: str
    env_key: str
    required: bool
    when: str


class ProviderSection(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="type"
):
    """What every provider has. `password` is set by `config.load` from a variable named in
    the file (`password_env`), never by the file itself."""

    max_per_second: Annotated[
        float, Meta(ge=0, description="Send-rate limit for this provider; 0 = unlimited.")
    ] = 0
    password: Annotated[
        str, Meta(description="Resolved from password_env; never set in the file.")
    ] = ""

    @property
    def type(self) -> str:
        """The provider kind: the table's `type` key (this Struct's tag)."""
        return str(self.__struct_config__.tag)

    def secrets(self) -> tuple[Secret, ...]:
        """The secrets this provider reads from the environment (none by default)."""
        return ()


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


ProviderConfig = SmtpProviderConfig | OutboxProviderConfig
PROVIDER_TYPES: dict[str, type[ProviderSection]] = {
    str(kind.__struct_config__.tag): kind for kind in get_args(ProviderConfig)
}
"""Each `type` value and its Struct, in the union's order."""
