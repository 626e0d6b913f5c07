"""Validation of a batch send (POST /v1/messages/batch). Pure: no I/O, `now` is passed.

The shared part (sender, templates, attachments, metadata, schedule) is checked once; each
recipient entry is checked on its own and its errors are named `recipients[i].to[0]`. The
caller may check recipients in slices (to yield to the event loop between them) and then asks
for the verdict, which keeps the single-send order: 422 → 413 → 403.

Address checks are the cost at 10,000 recipients (email-validator runs ~70 µs per address),
so `normalize_fast` validates each distinct domain once and checks a plain dot-atom local part
with a regex, which gives exactly email-validator's result for such addresses; anything else
(quoted or non-ASCII local parts, odd lengths, bad domains) goes through the full validator.
"""

import functools
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from iep_appliance.domain.errors import (
    FieldError,
    PayloadTooLarge,
    SenderNotAllowed,
    ValidationFailed,
)
from iep_appliance.domain.models import (
    MAX_BATCH_RECIPIENTS,
    Address,
    AttachmentLimits,
    BatchRecipient,
    BatchRequest,
)
from iep_appliance.domain.render import variables_depth_exceeds
from iep_appliance.domain.validation import (
    DEFAULT_MAX_VARIABLE_DEPTH,
    CommonFields,
    check_addresses,
    check_common,
    normalize_address,
)

MAX_ERRORS = 100  # field errors listed in one 422; the rest are summarised
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*\Z")


class ValidRecipient(msgspec.Struct, frozen=True):
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    variables: dict[str, Any]
    names: dict[str, str] = {}  # {lower-cased address: display name}


class BatchCheck:
    """Errors gathered while checking one batch, split into 422 and 413 kinds."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.too_large: list[FieldError] = []
        self.truncated = False

    def add(self, error: FieldError) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)
        else:
            self.truncated = True

    @property
    def full(self) -> bool:
        return len(self.errors) >= MAX_ERRORS


@functools.lru_cache(maxsize=16384)
def _domain(domain: str) -> str | None:
    """The normalized ASCII domain, or None to fall back to the full validator."""
    try:
        normalized = normalize_address("a@" + domain).rpartition("@")[2]
    except ValueError:
        return None
    return normalized if normalized.isascii() else None


def normalize_fast(address: str) -> str:
    """Same result as `validation.normalize_address`, fast for plain addresses."""
    if isinstance(address, str):
        local, at, domain = address.rpartition("@")
        if at and len(local) <= 64 and _DOT_ATOM.match(local):
            normalized = _domain(domain)
            if normalized is not None and len(local) + 1 + len(normalized) <= 254:
                return f"{local}@{normalized}"
    return normalize_address(address)


def _addresses(
    path: str,
    values: Sequence[Address],
    check: BatchCheck,
    required: bool = False,
    names: dict[str, str] | None = None,
) -> tuple[str, ...]:
    errors: list[FieldError] = []
    out = check_addresses(path, values, errors, required, normalize=normalize_fast, names=names)
    for e in errors:
        check.add(e)
    return out


def check_shared(
    req: BatchRequest,
    limits: AttachmentLimits,
    now: datetime,
    check: BatchCheck,
    max_variable_depth: int = DEFAULT_MAX_VARIABLE_DEPTH,
) -> CommonFields:
    """Check every shared field once (templates and attachments included)."""
    n = len(req.recipients)
    if n == 0:
        check.add(FieldError("recipients", "at least one recipient entry is required"))
    elif n > MAX_BATCH_RECIPIENTS:
        check.add(FieldError("recipients", f"at most {MAX_BATCH_RECIPIENTS} recipient entries"))
    errors: list[FieldError] = []
    common, too_large = check_common(req, limits, now, errors, max_variable_depth)
    for e in errors:
        check.add(e)
    check.too_large.extend(too_large)
    return common


def check_recipients(
    recipients: Sequence[BatchRecipient],
    start: int,
    shared_variables: dict[str, Any],
    check: BatchCheck,
    max_variable_depth: int = DEFAULT_MAX_VARIABLE_DEPTH,
) -> list[ValidRecipient]:
    """Check `recipients` (entries `start`, `start + 1`, …); variables merged over shared."""
    out = []
    for offset, r in enumerate(recipients):
        if check.full:
            check.truncated = True
            break
        base = f"recipients[{start + offset}]"
        names: dict[str, str] = {}
        if r.variables and variables_depth_exceeds(r.variables, max_variable_depth):
            check.add(
                FieldError(f"{base}.variables", f"nested deeper than {max_variable_depth} levels")
            )
        out.append(
            ValidRecipient(
                to=_addresses(f"{base}.to", r.to, check, required=True, names=names),
                cc=_addresses(f"{base}.cc", r.cc, check, names=names),
                bcc=_addresses(f"{base}.bcc", r.bcc, check, names=names),
                variables={**shared_variables, **r.variables} if r.variables else shared_variables,
                names=names,
            )
        )
    return out


def verdict(shared: CommonFields, check: BatchCheck, allowed_domains: frozenset[str]) -> None:
    """Raise for what `check` found, in the single send's order: 422, then 413, then 403."""
    if check.errors:
        errors = list(check.errors)
        if check.truncated:
            errors.append(
                FieldError("recipients", f"more errors not listed (the first {MAX_ERRORS} are)")
            )
        raise ValidationFailed(errors)
    if check.too_large:
        raise PayloadTooLarge(check.too_large)
    domain = shared.from_email.rpartition("@")[2].lower()
    if domain not in allowed_domains:
        raise SenderNotAllowed(domain)
