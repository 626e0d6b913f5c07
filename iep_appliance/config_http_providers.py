"""`[providers.NAME]` tables of the HTTP-API providers (DESIGN §10.4): `ses`, `sendgrid`,
`mailgun`, Structs of the provider config union (config_providers.py) tagged on `type`.

Secrets come from the environment (`*_env` names a variable); `config.load` reads them into
the `*` fields that are never set in the file (`secrets()`). `endpoint_url` defaults to the
provider's own API; tests point it at a local server speaking that API (moto for SES).
"""

import re
from typing import Annotated, Literal

from msgspec import Meta

from iep_appliance.config_provider_section import ProviderSection, ResolvedSecret, Secret

__all__ = [
    "HttpProviderConfig",
    "MailgunProviderConfig",
    "SendgridProviderConfig",
    "SesProviderConfig",
]

REGION = "ses: the AWS region (e.g. eu-west-1); mailgun: us (api.mailgun.net) or eu."
API_KEY_ENV = "Environment variable holding the provider's API key."
DEFAULT_SNS_CERT_URL_PATTERN = r"^https://sns\.[a-z0-9-]+\.amazonaws\.com/"


class _Http(ProviderSection, frozen=True):
    endpoint_url: Annotated[
        str,
        Meta(description="Base URL of the provider's API; empty = the provider's own."),
    ] = ""
    timeout_seconds: Annotated[
        float, Meta(gt=0, description="Timeout of one API request (connect, read, write).")
    ] = 30
    connections: Annotated[
        int, Meta(ge=1, le=256, description="Kept-alive HTTP/1.1 connections in the pool.")
    ] = 16

    def problems(self, name: str) -> list[str]:
        if self.endpoint_url and not self.endpoint_url.startswith(("http://", "https://")):
            return [f"providers.{name}.endpoint_url: expected an http(s) URL"]
        return []


class SesProviderConfig(_Http, frozen=True, tag="ses"):
    region: Annotated[str, Meta(min_length=1, description=REGION)] = "us-east-1"
    access_key_id_env: Annotated[
        str, Meta(description="Environment variable holding the AWS access key id.")
    ] = "AWS_ACCESS_KEY_ID"
    secret_access_key_env: Annotated[
        str, Meta(description="Environment variable holding the AWS secret access key.")
    ] = "AWS_SECRET_ACCESS_KEY"
    configuration_set: Annotated[
        str, Meta(description="SES configuration set (event destinations); empty = none.")
    ] = ""
    sns_cert_url_pattern: Annotated[
        str,
        Meta(description="Regex an SNS SigningCertURL must match before it is fetched."),
    ] = DEFAULT_SNS_CERT_URL_PATTERN
    access_key_id: ResolvedSecret = ""
    secret_access_key: ResolvedSecret = ""

    def secrets(self) -> tuple[Secret, ...]:
        return (
            Secret("access_key_id", "access_key_id_env", True, "type is ses"),
            Secret("secret_access_key", "secret_access_key_env", True, "type is ses"),
        )

    def problems(self, name: str) -> list[str]:
        found = super().problems(name)
        try:
            re.compile(self.sns_cert_url_pattern)
        except re.error as exc:
            found.append(f"providers.{name}.sns_cert_url_pattern: not a regex ({exc})")
        return found


class SendgridProviderConfig(_Http, frozen=True, tag="sendgrid"):
    api_key_env: Annotated[str, Meta(description=API_KEY_ENV)] = "SENDGRID_API_KEY"
    webhook_public_key: Annotated[
        str,
        Meta(description="Event Webhook verification key (base64 DER or PEM); empty = refuse all."),
    ] = ""
    api_key: ResolvedSecret = ""

    def secrets(self) -> tuple[Secret, ...]:
        return (Secret("api_key", "api_key_env", True, "type is sendgrid"),)


class MailgunProviderConfig(_Http, frozen=True, tag="mailgun"):
    domain: Annotated[str, Meta(min_length=1, description="The Mailgun sending domain.")] = ""
    api_key_env: Annotated[str, Meta(description=API_KEY_ENV)] = "MAILGUN_API_KEY"
    region: Annotated[Literal["us", "eu"], Meta(description=REGION)] = "us"
    webhook_signing_key_env: Annotated[
        str,
        Meta(description="Environment variable of the webhook signing key; unset = refuse all."),
    ] = "MAILGUN_WEBHOOK_SIGNING_KEY"
    api_key: ResolvedSecret = ""
    webhook_signing_key: ResolvedSecret = ""

    def secrets(self) -> tuple[Secret, ...]:
        return (
            Secret("api_key", "api_key_env", True, "type is mailgun"),
            # events only: a provider may send without it (its webhooks then refuse all)
            Secret("webhook_signing_key", "webhook_signing_key_env", False, "", lookup=True),
        )

    def problems(self, name: str) -> list[str]:
        found = super().problems(name)
        if not self.domain:
            found.append(f"providers.{name}.domain: required for mailgun")
        return found


HttpProviderConfig = SesProviderConfig | SendgridProviderConfig | MailgunProviderConfig
