"""The provider object of a tenant's own provider (`/v1/providers`), named by its id as the
tenant's routing names it: its table converted to the provider config union and built by the
registry, except SMTP, which is built as `ProbedSmtpProvider` (its test step says which of
connect, EHLO or AUTH failed)."""

import msgspec

from iep_appliance.config_providers import ProviderConfig, SmtpProviderConfig
from iep_appliance.delivery.providers.base import Provider
from iep_appliance.delivery.providers.registry import ProviderParts, build_provider
from iep_appliance.delivery.providers.smtp_probe import ProbedSmtpProvider
from iep_appliance.domain.errors import FieldError, ValidationFailed
from iep_appliance.domain.tenant_providers import TenantProviderRecord, config_table


def build_tenant_provider(
    record: TenantProviderRecord, credentials: dict[str, str], parts: ProviderParts
) -> Provider:
    table = config_table(record.type, record.settings, credentials)
    try:
        cfg = msgspec.convert(table, ProviderConfig, strict=True)
    except msgspec.ValidationError as exc:
        raise ValidationFailed([FieldError("settings", str(exc))]) from None
    if isinstance(cfg, SmtpProviderConfig):
        return ProbedSmtpProvider(record.id, cfg)
    return build_provider(record.id, cfg, parts)
