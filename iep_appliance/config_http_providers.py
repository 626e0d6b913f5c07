"""`[providers.NAME]` tables of the HTTP-API providers (DESIGN §10.4): `ses`, `sendgrid`,
`mailgun`, as msgspec Structs tagged on `type` (ready to join the provider config union).

Secrets come from the environment (`*_env` names a variable); `resolve()` reads them into the
`*` fields that are never set in the file. `endpoint_url` defaults to the provider's own API;
tests point it at a local server speaking that API (moto for SES).
"""

import re
from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "HTTP_PROVIDER_TYPES",
    "HttpProviderConfig",
    "MailgunProviderConfig",
    "SendgridProviderConfig",
    "SesProviderConfig",
    "convert_http_provider",
    "resolve_http_provider",
]

REGION = "ses: the AWS region (e.g. eu-west-1); mailgun: us (api.mailgun.net) or eu."
API_KEY_ENV = "Environment variable holding the provider's API key."
DEFAULT_SNS_CERT_URL_PATTERN = r"^https://sns\.[a-z0-9-]+\.amazonaws\.com/"


class _Http(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="type"
):
    endpoint_url: Annotated[
        str,
        Meta(description="Base URL of the provider's API; empty = the provider's own."),
    ] = ""
    timeout_seconds: Annotated[
        float, Meta(gt=0, description="Timeout of one API request (connect, read, write).")
    ] = 30
    max_per_second: Annotated[
        float, Meta(ge=0, description="Send-rate limit for this provider; 0 = unlimited.")
    ] = 0
    connections: Annotated[
        int, Meta(ge=1, le=256, description="Kept-alive HTTP/1.1 connections in the pool.")
    ] = 16


class SesProviderConfig(_Http, tag="ses"):
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
    access_key_id: Annotated[str, Meta(description="Resolved; never set in the file.")] = ""
    secret_access_key: Annotated[str, Meta(description="Resolved; never set in the file.")] = ""


class SendgridProviderConfig(_Http, tag="sendgrid"):
    api_key_env: Annotated[str, Meta(description=API_KEY_ENV)] = "SENDGRID_API_KEY"
    webhook_public_key: Annotated[
        str,
        Meta(description="Event Webhook verification key (base64 DER or PEM); empty = refuse all."),
    ] = ""
    api_key: Annotated[str, Meta(description="Resolved; never set in the file.")] = ""


class MailgunProviderConfig(_Http, tag="mailgun"):
    domain: Annotated[str, Meta(min_length=1, description="The Mailgun sending domain.")] = ""
    api_key_env: Annotated[str, Meta(description=API_KEY_ENV)] = "MAILGUN_API_KEY"
    region: Annotated[Literal["us", "eu"], Meta(description=REGION)] = "us"
    webhook_signing_key_env: Annotated[
        str,
        Meta(description="Environment variable of the webhook signing key; unset = refuse all."),
    ] = "MAILGUN_WEBHOOK_SIGNING_KEY"
    api_key: Annotated[str, Meta(description="Resolved; never set in the file.")] = ""
    webhook_signing_key: Annotated[str, Meta(description="Resolved; never set in the file.")] = ""


HttpProviderConfig = SesProviderConfig | SendgridProviderConfig | MailgunProviderConfig
HTTP_PROVIDER_TYPES: dict[str, type] = {
    "ses": SesProviderConfig,
    "sendgrid": SendgridProviderConfig,
    "mailgun": MailgunProviderConfig,
}
_RESOLVED = {
    "ses": (("access_key_id_env", "access_key_id"), ("secret_access_key_env", "secret_access_key")),
    "sendgrid": (("api_key_env", "api_key"),),
    "mailgun": (("api_key_env", "api_key"), ("webhook_signing_key_env", "webhook_signing_key")),
}
_OPTIONAL = {"webhook_signing_key"}  # events only: a provider may send without it


def convert_http_provider(table: object) -> HttpProviderConfig:
    """One table as its tagged struct; raises msgspec.ValidationError like msgspec.convert."""
    return msgspec.convert(table, HttpProviderConfig, strict=True)


def resolve_http_provider(
    name: str, cfg: HttpProviderConfig, environ: Mapping[str, str], problems: list[str]
) -> HttpProviderConfig:
    """`cfg` with its secrets read from the environment; a problem per missing one."""
    kind = type(cfg).__struct_config__.tag
    found: dict[str, str] = {}
    for env_field, field in _RESOLVED[str(kind)]:
        if getattr(cfg, field):
            problems.append(
                f"providers.{name}.{field}: secrets come from the environment; use {env_field}"
            )
            continue
        variable = getattr(cfg, env_field)
        value = environ.get(variable, "") if variable else ""
        if not value and field not in _OPTIONAL:
            problems.append(
                f"providers.{name}.{env_field}: environment variable {variable or '(empty)'}"
                " is not set"
            )
        found[field] = value
    if isinstance(cfg, SesProviderConfig):
        try:
            re.compile(cfg.sns_cert_url_pattern)
        except re.error as exc:
            problems.append(f"providers.{name}.sns_cert_url_pattern: not a regex ({exc})")
    if isinstance(cfg, MailgunProviderConfig) and not cfg.domain:
        problems.append(f"providers.{name}.domain: required for mailgun")
    if cfg.endpoint_url and not cfg.endpoint_url.startswith(("http://", "https://")):
        problems.append(f"providers.{name}.endpoint_url: expected an http(s) URL")
    return msgspec.structs.replace(cfg, **found)
