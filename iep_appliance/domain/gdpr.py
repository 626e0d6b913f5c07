"""GDPR export and erase rules (DESIGN §10.5). Pure.

An erase keeps the address blocked without keeping the address: its suppression row is
re-keyed to `suppression_hash(tenant, address)` (`sha256:` of the tenant id and the lower-cased
address) and the suppression check matches that hash too. Like any unsalted-by-secret hash of
an address it is a pseudonym (someone holding the address can test for it), which is what
"stays blocked" needs.
"""

import hashlib
from typing import Any

import msgspec

from iep_appliance.domain.errors import FieldError, ValidationFailed
from iep_appliance.domain.validation import normalize_address

HASH_PREFIX = "sha256:"


class GdprRequest(msgspec.Struct, frozen=True):
    id: str
    tenant_id: str
    kind: str  # "erase"
    email_hash: str
    state: str  # pending | done | failed
    requested_at: str
    counts: dict[str, int] = msgspec.field(default_factory=dict)
    error: str | None = None
    finished_at: str | None = None


class EraseResult(msgspec.Struct, frozen=True):
    counts: dict[str, int]
    orphan_keys: tuple[str, ...] = ()  # attachment files no row refers to any more


def suppression_hash(tenant_id: str, email: str) -> str:
    digest = hashlib.sha256(f"{tenant_id}:{email.strip().lower()}".encode()).hexdigest()
    return HASH_PREFIX + digest


def subject_address(email: str) -> str:
    """The address a request is about, lower-cased. Raises ValidationFailed (422) naming
    `email` when it is not one address."""
    try:
        normalize_address(email)
    except ValueError as exc:
        raise ValidationFailed([FieldError("email", f"not an email address ({exc})")]) from None
    return email.strip().lower()


def names(address: str, *values: Any) -> bool:
    """Does any of `values` (text, bytes, JSON-ish) contain the address (case-insensitive)?"""
    needle = address.lower()
    for value in values:
        if value is None:
            continue
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        if needle in text.lower():
            return True
    return False
