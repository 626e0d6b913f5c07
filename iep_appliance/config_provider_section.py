"""The base of every `[providers.NAME]` Struct (its own module: the provider Structs of
config_providers.py and config_http_providers.py both subclass it)."""

from typing import Annotated, NamedTuple

import msgspec
from msgspec import Meta


class Secret(NamedTuple):
    """A secret `config.load` reads from the environment: `field` gets the value of the
    variable named by the `env_key` key; `required` (because `when`) or not looked up."""

    field: str
    env_key: str
    required: bool
    when: str
    lookup: bool = False  # not required, but read when the variable is set


ResolvedSecret = Annotated[str, Meta(description="Resolved; never set in the file.")]
"""A secret field `config.load` fills from the environment (`Secret.field`)."""


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

    def problems(self, name: str) -> list[str]:
        """Checks beyond the Struct's types, one line per problem (none by default)."""
        return []
