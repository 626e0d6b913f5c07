"""Build the HTTP-API providers (`ses`, `sendgrid`, `mailgun`) from their config structs.

h-providers (issue 17): the lead folds `BUILDERS` into `delivery/providers/registry.py`'s
`build_provider(name, config, parts)` at merge; until then the engine and the reloader ask here
first.
"""

from typing import Any

from iep_appliance.config_http_providers import (
    MailgunProviderConfig,
    SendgridProviderConfig,
    SesProviderConfig,
)
from iep_appliance.delivery.providers import mailgun, sendgrid, ses
from iep_appliance.delivery.providers.http_base import HttpProvider

BUILDERS: dict[type, Any] = {
    SesProviderConfig: ses.build,
    SendgridProviderConfig: sendgrid.build,
    MailgunProviderConfig: mailgun.build,
}


def build_http_provider(name: str, cfg: object, parts: Any = None) -> HttpProvider | None:
    """The provider for an HTTP-API config struct; None for any other config."""
    builder = BUILDERS.get(type(cfg))
    return builder(name, cfg, parts) if builder is not None else None
