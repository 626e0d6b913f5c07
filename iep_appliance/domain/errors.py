"""Every exception IEP raises on purpose. None carries an HTTP status.

    IEPError
     ├─ ValidationFailed      bad input; .errors names each field
     ├─ BadRequest            not acceptable at all (unknown query parameter); .errors names it
     ├─ PayloadTooLarge       request or attachment over a limit; .errors names the field
     ├─ SenderNotAllowed      `from` domain not on the tenant's allow-list
     │   └─ SenderPending     `from` domain listed but still pending verification
     ├─ NotFound              no such resource for this tenant
     ├─ Conflict              state forbids the change (idempotency mismatch, not failed, ...)
     ├─ Unauthorized          no credentials, or credentials that match nothing
     ├─ Forbidden             the credentials lack a scope
     │   ├─ NotPermitted      a field the key may not set (sandbox keys); .errors names it
     │   ├─ TenantDeactivated the credentials belong to a deactivated tenant
     │   └─ IpNotAllowed      the key's IP allowlist does not hold the client address
     ├─ RateLimited           over a tenant limit; .retry_after seconds
     ├─ StoreUnavailable      the store cannot commit (disk full, read-only, I/O error)
     └─ ConfigError           bad iep.toml; .problems one line per key

`api/problems.py` is the only place that maps these to HTTP.
"""

from dataclasses import dataclass, field
from typing import TypeVar

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str
    message: str


class IEPError(Exception):
    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class _FieldsError(IEPError):
    """An error whose `.errors` name each field; `detail` is the class's `DETAIL` unless given."""

    DETAIL = ""

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        super().__init__(self.DETAIL if detail is None else detail)
        self.errors = errors


class ValidationFailed(_FieldsError):
    DETAIL = "Request validation failed"


class BadRequest(_FieldsError):
    DETAIL = "Bad request"


class PayloadTooLarge(_FieldsError):
    DETAIL = "Payload too large"


class SenderNotAllowed(IEPError):
    def __init__(self, domain: str) -> None:
        super().__init__(f"Sender domain {domain!r} is not allowed for this tenant")
        self.domain = domain
        self.errors = [FieldError("from.email", f"domain {domain!r} is not an allowed sender")]


class SenderPending(SenderNotAllowed):
    def __init__(self, domain: str) -> None:
        IEPError.__init__(self, f"Sender domain {domain!r} is pending verification")
        self.domain = domain
        self.errors = [FieldError("from.email", f"domain {domain!r} is pending verification (DNS)")]


class NotFound(IEPError):
    pass


def or_not_found(value: _T | None, detail: str) -> _T:
    """`value`, unless the store found nothing (None): then NotFound(detail)."""
    if value is None:
        raise NotFound(detail)
    return value


class Conflict(IEPError):
    def __init__(self, detail: str, extra: dict[str, object] | None = None) -> None:
        super().__init__(detail)
        self.extra = extra or {}


class Unauthorized(IEPError):
    pass


class Forbidden(IEPError):
    pass


class NotPermitted(_FieldsError, Forbidden):
    """A change this key may not make; `errors` names each field (privileges never grow)."""

    DETAIL = "Not permitted"


class TenantDeactivated(Forbidden):
    """A valid key (or session) of a tenant the operator deactivated: 403, never 'scope'."""


class IpNotAllowed(Forbidden):
    """A valid key used from an address outside its IP allowlist; names it."""

    def __init__(self, client: str) -> None:
        super().__init__(
            f"Requests from {client or 'an unknown address'} are not allowed for this API key"
        )
        self.client = client


@dataclass
class RateLimited(IEPError):
    retry_after: int
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        IEPError.__init__(self, "Rate limit exceeded")


class StoreUnavailable(IEPError):
    """The store cannot commit now (disk full, read-only filesystem, I/O error): nothing was
    written; the same request may succeed later (`retry_after` seconds is a hint)."""

    def __init__(self, reason: str, retry_after: int = 5) -> None:
        super().__init__(f"The store cannot commit right now ({reason}); try again later")
        self.reason = reason
        self.retry_after = retry_after


class ConfigError(IEPError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
