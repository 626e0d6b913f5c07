"""Tenant providers (DESIGN §10.4): a tenant's own SMTP relay or SES/SendGrid/Mailgun account.

`POST /v1/providers` `{name, type, settings, credentials}`; the answer is `{id, name, type,
settings, createdAt}` — credentials are write-only: sealed under the master key (AES-256-GCM)
and never shown again. Pure rules: which settings and credentials each type takes, their
types, and the problems naming the field. A tenant's routing names its provider by id
(`routing.primaryProvider` / `fallbackProvider`), beside the operator's `[providers.NAME]`.
"""

import re
from typing import Annotated, Any, Literal

import msgspec

from iep_appliance.domain.errors import FieldError, ValidationFailed

ProviderType = Literal["smtp", "ses", "sendgrid", "mailgun"]
PROVIDER_TYPES: tuple[str, ...] = ("smtp", "ses", "sendgrid", "mailgun")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

_Setting = tuple[type | tuple[type, ...], bool]  # (python type, required)
_EVERY_TYPE: dict[str, _Setting] = {
    "timeoutSeconds": ((int, float), False),
    "maxPerSecond": ((int, float), False),
}
# type -> setting (camelCase) -> (python type, required); the settings every type has last
SETTINGS: dict[str, dict[str, _Setting]] = {
    "smtp": {
        "host": (str, True),
        "port": (int, False),
        "security": (str, False),
        "username": (str, False),
        "connections": (int, False),
        **_EVERY_TYPE,
    },
    "ses": {
        "region": (str, True),
        "configurationSet": (str, False),
        "endpointUrl": (str, False),
        "snsCertUrlPattern": (str, False),
        **_EVERY_TYPE,
    },
    "sendgrid": {
        "endpointUrl": (str, False),
        "webhookPublicKey": (str, False),
        **_EVERY_TYPE,
    },
    "mailgun": {
        "domain": (str, True),
        "region": (str, False),
        "endpointUrl": (str, False),
        **_EVERY_TYPE,
    },
}
# type -> credential -> required
CREDENTIALS: dict[str, dict[str, bool]] = {
    "smtp": {"password": False},
    "ses": {"accessKeyId": True, "secretAccessKey": True},
    "sendgrid": {"apiKey": True},
    "mailgun": {"apiKey": True, "webhookSigningKey": False},
}
_CHOICES = {
    "security": ("none", "starttls", "tls"),
    "region@mailgun": ("us", "eu"),
}


class ProviderCreate(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(description="The tenant's name for it (unique).")]
    type: Annotated[ProviderType, msgspec.Meta(description="smtp | ses | sendgrid | mailgun.")]
    settings: Annotated[
        dict[str, Any], msgspec.Meta(description="Non-secret settings of the type.")
    ] = msgspec.field(default_factory=dict)
    credentials: Annotated[
        dict[str, str], msgspec.Meta(description="Secrets of the type; write-only.")
    ] = msgspec.field(default_factory=dict)


class ProviderPatch(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    name: Annotated[str | None, msgspec.Meta(description="New name.")] = None
    settings: Annotated[
        dict[str, Any] | None, msgspec.Meta(description="Replaces the settings.")
    ] = None
    credentials: Annotated[
        dict[str, str] | None, msgspec.Meta(description="Replaces the credentials.")
    ] = None


class TenantProviderRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tenant_id: str
    name: str
    type: str
    settings: dict[str, Any]
    secret: bytes  # the credentials as JSON, sealed (AES-256-GCM) under the master key
    created_at: str
    updated_at: str


class ProviderView(msgspec.Struct, frozen=True, rename="camel"):
    id: Annotated[str, msgspec.Meta(description="Provider id; route to it by this id.")]
    name: Annotated[str, msgspec.Meta(description="The tenant's name for it.")]
    type: Annotated[str, msgspec.Meta(description="smtp | ses | sendgrid | mailgun.")]
    settings: Annotated[dict[str, Any], msgspec.Meta(description="Non-secret settings.")]
    created_at: Annotated[str, msgspec.Meta(description="When it was created (ISO 8601).")]
    credentials_set: Annotated[
        list[str], msgspec.Meta(description="Which credentials are stored (never their values).")
    ] = msgspec.field(default_factory=list)


class ProbeView(msgspec.Struct, frozen=True, rename="camel"):
    ok: Annotated[bool, msgspec.Meta(description="The provider answered and accepted us.")]
    step: Annotated[
        str | None, msgspec.Meta(description="Which step failed: connect | ehlo | auth | api.")
    ] = None
    detail: Annotated[str, msgspec.Meta(description="What the provider said.")] = ""


def check_name(name: str, errors: list[FieldError]) -> None:
    if not _NAME.match(name):
        errors.append(FieldError("name", "1-64 letters, digits, '.', '_' or '-'"))


def check_settings(kind: str, settings: dict[str, Any], errors: list[FieldError]) -> None:
    allowed = SETTINGS[kind]
    for key, value in settings.items():
        if key not in allowed:
            errors.append(FieldError(f"settings.{key}", f"unknown setting for {kind}"))
            continue
        want, _required = allowed[key]
        if isinstance(value, bool) or not isinstance(value, want):
            errors.append(FieldError(f"settings.{key}", "wrong type"))
            continue
        _check_value(key, value, kind, errors)
    for key, (_want, required) in allowed.items():
        if required and not settings.get(key):
            errors.append(FieldError(f"settings.{key}", "required"))


def _check_value(key: str, value: Any, kind: str, errors: list[FieldError]) -> None:
    """The rules of one setting whose type is right."""
    choices = _CHOICES.get(f"{key}@{kind}", _CHOICES.get(key))
    if choices and value not in choices:
        errors.append(FieldError(f"settings.{key}", f"must be one of {', '.join(choices)}"))
    if key == "port" and not 1 <= value <= 65535:
        errors.append(FieldError("settings.port", "must be 1-65535"))
    if key in ("timeoutSeconds",) and value <= 0:
        errors.append(FieldError(f"settings.{key}", "must be positive"))
    if key in ("maxPerSecond", "connections") and value < 0:
        errors.append(FieldError(f"settings.{key}", "must not be negative"))
    if key == "endpointUrl" and not value.startswith(("http://", "https://")):
        errors.append(FieldError("settings.endpointUrl", "expected an http(s) URL"))
    if key == "snsCertUrlPattern":
        try:
            re.compile(value)
        except re.error:
            errors.append(FieldError("settings.snsCertUrlPattern", "not a regex"))


def check_credentials(kind: str, credentials: dict[str, str], errors: list[FieldError]) -> None:
    allowed = CREDENTIALS[kind]
    for key, value in credentials.items():
        if key not in allowed:
            errors.append(FieldError(f"credentials.{key}", f"unknown credential for {kind}"))
        elif len(value) > 4096:
            errors.append(FieldError(f"credentials.{key}", "too long"))
    for key, required in allowed.items():
        if required and not credentials.get(key):
            errors.append(FieldError(f"credentials.{key}", "required"))


def validate_create(body: ProviderCreate) -> None:
    errors: list[FieldError] = []
    check_name(body.name, errors)
    check_settings(body.type, body.settings, errors)
    check_credentials(body.type, body.credentials, errors)
    if errors:
        raise ValidationFailed(errors)


def validate_patch(kind: str, body: ProviderPatch) -> None:
    errors: list[FieldError] = []
    if body.name is not None:
        check_name(body.name, errors)
    if body.settings is not None:
        check_settings(kind, body.settings, errors)
    if body.credentials is not None:
        check_credentials(kind, body.credentials, errors)
    if errors:
        raise ValidationFailed(errors)


def view(record: TenantProviderRecord, credential_names: list[str]) -> ProviderView:
    return ProviderView(
        id=record.id,
        name=record.name,
        type=record.type,
        settings=record.settings,
        created_at=record.created_at,
        credentials_set=sorted(credential_names),
    )


def config_table(
    kind: str, settings: dict[str, Any], credentials: dict[str, str]
) -> dict[str, Any]:
    """The `[providers.NAME]`-shaped table (snake_case keys, secrets resolved) a provider is
    built from; `password`/`api_key`/… carry the opened credentials."""
    out: dict[str, Any] = {"type": kind}
    for key, value in (*settings.items(), *credentials.items()):
        out[re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()] = value
    return out
