"""PATCH /v1/tenant as a pure rule: merge a partial body onto a tenant, validated like config.

`apply_patch` takes the current tenant, the decoded JSON body and the configured provider
names, and returns the new name and settings, or raises ValidationFailed naming every bad
field (`rateLimits.maxPerMinute`, `routing.primaryProvider`, ...). Objects merge key by key;
`null` clears a nullable value. Pure: no I/O.
"""

import re
from collections.abc import Callable, Collection
from typing import Any, TypeGuard

import msgspec

from iep_appliance.domain.errors import FieldError, ValidationFailed
from iep_appliance.domain.models import (
    AttachmentLimits,
    RateLimits,
    Routing,
    Tenant,
    TenantSettings,
)
from iep_appliance.domain.tracking import TrackingOptions

MAX_NAME = 200
MAX_LIMIT = 1_000_000_000
MAX_BYTES = 2**31
MAX_COUNT = 1000
MAX_TYPES = 200
_MIME_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_READ_ONLY = ("id", "slug", "active")
_SECTIONS: dict[str, type[msgspec.Struct]] = {
    "rateLimits": RateLimits,
    "attachments": AttachmentLimits,
    "routing": Routing,
}


class Patched(msgspec.Struct, frozen=True):
    name: str
    settings: TenantSettings


def apply_patch(tenant: Tenant, body: Any, providers: Collection[str]) -> Patched:
    """The tenant's name and settings after `body` is merged in. Raises ValidationFailed."""
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError("body", "must be a JSON object")])
    errors: list[FieldError] = []
    current = {
        "id": tenant.id,
        "slug": tenant.slug,
        "active": tenant.active,
    }
    for key in body:
        if key not in (*_READ_ONLY, *_FLAGS, "name", "sandbox", "unsubscribe", *_SECTIONS):
            errors.append(FieldError(key, "is not a known field"))
    for key in _READ_ONLY:
        if key in body and body[key] != current[key]:
            errors.append(FieldError(key, "is read-only"))
    name = tenant.name
    if "name" in body:
        name = _check_name(body["name"], errors)
    settings = tenant.settings
    if (sandbox := _flag(body, "sandbox", errors)) is not None:
        settings = msgspec.structs.replace(settings, sandbox=sandbox)
    sections: dict[str, Any] = {}
    for key in _SECTIONS:
        if key not in body:
            continue
        value = body[key]
        if not isinstance(value, dict):
            errors.append(FieldError(key, "must be an object"))
            continue
        merged = {**msgspec.to_builtins(getattr(settings, _attr(key))), **value}
        checked = _CHECKS[key](merged, value, providers, errors)
        if checked is not None:
            sections[_attr(key)] = checked
    if (unsubscribe := _flag(body, "unsubscribe", errors)) is not None:
        settings = msgspec.structs.replace(settings, unsubscribe=unsubscribe)
    settings = _content_defaults(body, settings, errors)
    if errors:
        raise ValidationFailed(errors)
    return Patched(name=name, settings=msgspec.structs.replace(settings, **sections))


# ---- the tenant's content defaults for sends that do not say (tracking, strictVariables)
_FLAGS = ("tracking", "strictVariables")


def _content_defaults(
    body: dict[str, Any], settings: TenantSettings, errors: list[FieldError]
) -> TenantSettings:
    if (strict := _flag(body, "strictVariables", errors)) is not None:
        content = msgspec.structs.replace(settings.content, strict_variables=strict)
        settings = msgspec.structs.replace(settings, content=content)
    if "tracking" in body:
        given = body["tracking"]
        if not isinstance(given, dict):
            errors.append(FieldError("tracking", "must be an object"))
            return settings
        merged = {**msgspec.to_builtins(settings.content.tracking)}
        for key, value in given.items():
            if key not in ("opens", "clicks"):
                errors.append(FieldError(f"tracking.{key}", "is not a known field"))
            elif not isinstance(value, bool):
                errors.append(FieldError(f"tracking.{key}", "must be true or false"))
            else:
                merged[key] = value
        content = msgspec.structs.replace(settings.content, tracking=TrackingOptions(**merged))
        settings = msgspec.structs.replace(settings, content=content)
    return settings


def _flag(body: dict[str, Any], key: str, errors: list[FieldError]) -> bool | None:
    """`body[key]` when the body sets it to true or false; None when it is absent, or not a
    boolean (named in `errors`)."""
    if key not in body:
        return None
    value = body[key]
    if isinstance(value, bool):
        return value
    errors.append(FieldError(key, "must be true or false"))
    return None


def _attr(section: str) -> str:
    return {"rateLimits": "rate_limits"}.get(section, section)


def _check_name(value: Any, errors: list[FieldError]) -> str:
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError("name", "must be a non-empty string"))
        return ""
    if len(value) > MAX_NAME or "\r" in value or "\n" in value:
        errors.append(FieldError("name", f"at most {MAX_NAME} characters on one line"))
    return value.strip()


def _unknown(
    section: str, given: dict[str, Any], known: tuple[str, ...], errors: list[FieldError]
) -> bool:
    bad = [k for k in given if k not in known]
    for k in bad:
        errors.append(FieldError(f"{section}.{k}", "is not a known field"))
    return bool(bad)


def _bad_nullable(
    section: str,
    merged: dict[str, Any],
    given: dict[str, Any],
    known: tuple[str, ...],
    problem: Callable[[Any], str | None],
    errors: list[FieldError],
) -> bool:
    """Checks a section of nullable values: no key of `given` unknown, and each of `known`
    that `merged` sets (null: nothing to check) good, `problem` saying what is wrong with a
    value (None: nothing). True when anything was bad."""
    bad = _unknown(section, given, known, errors)
    for key in known:
        value = merged.get(key)
        if value is None:
            continue
        if (message := problem(value)) is not None:
            errors.append(FieldError(f"{section}.{key}", message))
            bad = True
    return bad


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _limit_problem(value: Any) -> str | None:
    if _is_int(value) and 0 <= value <= MAX_LIMIT:
        return None
    return f"must be null or an integer 0..{MAX_LIMIT}"


def _check_rate_limits(
    merged: dict[str, Any],
    given: dict[str, Any],
    providers: Collection[str],
    errors: list[FieldError],
) -> RateLimits | None:
    known = ("maxPerMinute", "maxPerHour", "maxPerDay")
    if _bad_nullable("rateLimits", merged, given, known, _limit_problem, errors):
        return None
    return RateLimits(
        max_per_minute=merged.get("maxPerMinute"),
        max_per_hour=merged.get("maxPerHour"),
        max_per_day=merged.get("maxPerDay"),
    )


def _check_attachments(
    merged: dict[str, Any],
    given: dict[str, Any],
    providers: Collection[str],
    errors: list[FieldError],
) -> AttachmentLimits | None:
    known = ("maxFileBytes", "maxTotalBytes", "maxCount", "allowedTypes")
    bad = _unknown("attachments", given, known, errors)
    bounds = {"maxFileBytes": (1, MAX_BYTES), "maxTotalBytes": (1, MAX_BYTES)}
    bounds["maxCount"] = (0, MAX_COUNT)
    for key, (low, high) in bounds.items():
        value = merged.get(key)
        if not _is_int(value) or not low <= value <= high:
            errors.append(FieldError(f"attachments.{key}", f"must be an integer {low}..{high}"))
            bad = True
    types = merged.get("allowedTypes")
    clean: list[str] = []
    if not isinstance(types, list | tuple) or len(types) > MAX_TYPES:
        errors.append(
            FieldError("attachments.allowedTypes", f"must be a list of at most {MAX_TYPES} types")
        )
        bad = True
    else:
        for i, t in enumerate(types):
            if not isinstance(t, str) or not _MIME_TYPE.match(t.strip().lower()):
                errors.append(
                    FieldError(f"attachments.allowedTypes[{i}]", "must be a type/subtype")
                )
                bad = True
            else:
                clean.append(t.strip().lower())
    if bad:
        return None
    if merged["maxFileBytes"] > merged["maxTotalBytes"]:
        errors.append(
            FieldError("attachments.maxTotalBytes", "must be at least attachments.maxFileBytes")
        )
        return None
    return AttachmentLimits(
        max_file_bytes=merged["maxFileBytes"],
        max_total_bytes=merged["maxTotalBytes"],
        max_count=merged["maxCount"],
        allowed_types=tuple(dict.fromkeys(clean)),
    )


def _check_routing(
    merged: dict[str, Any],
    given: dict[str, Any],
    providers: Collection[str],
    errors: list[FieldError],
) -> Routing | None:
    def provider_problem(value: Any) -> str | None:
        if isinstance(value, str) and value in providers:
            return None
        names = ", ".join(sorted(providers))
        return f"unknown provider {value!r} (configured: {names})"

    known = ("primaryProvider", "fallbackProvider")
    if _bad_nullable("routing", merged, given, known, provider_problem, errors):
        return None
    return Routing(
        primary_provider=merged.get("primaryProvider"),
        fallback_provider=merged.get("fallbackProvider"),
    )


_CHECKS = {
    "rateLimits": _check_rate_limits,
    "attachments": _check_attachments,
    "routing": _check_routing,
}
