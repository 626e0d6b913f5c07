"""Every exception IEP raises on purpose. None carries an HTTP status.

    IEPError
     ├─ ValidationFailed      bad input; .errors names each field
     ├─ PayloadTooLarge       request or attachment over a limit; .errors names the field
     ├─ SenderNotAllowed      `from` domain not on the tenant's allow-list
     ├─ NotFound              no such resource for this tenant
     ├─ Conflict              state forbids the change (idempotency mismatch, not failed, ...)
     ├─ Unauthorized          no credentials, or credentials that match nothing
     ├─ Forbidden             the credentials lack a scope
     │   └─ TenantDeactivated the credentials belong to a deactivated tenant
     ├─ RateLimited           over a tenant limit; .retry_after seconds
     └─ ConfigError           bad iep.toml; .problems one line per key

`api/problems.py` is the only place that maps these to HTTP.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str
    message: str


class IEPError(Exception):
    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class ValidationFailed(IEPError):
    def __init__(self, errors: list[FieldError], detail: str = "Request validation failed") -> None:
        super().__init__(detail)
        self.errors = errors


class PayloadTooLarge(IEPError):
    def __init__(self, errors: list[FieldError], detail: str = "Payload too large") -> None:
        super().__init__(detail)
        self.errors = errors


class SenderNotAllowed(IEPError):
    def __init__(self, domain: str) -> None:
        super().__init__(f"Sender domain {domain!r} is not allowed for this tenant")
        self.errors = [FieldError("from.email", f"domain {domain!r} is not an allowed sender")]


class NotFound(IEPError):
    pass


class Conflict(IEPError):
    def __init__(self, detail: str, extra: dict[str, object] | None = None) -> None:
        super().__init__(detail)
        self.extra = extra or {}


class Unauthorized(IEPError):
    pass


class Forbidden(IEPError):
    pass


class TenantDeactivated(Forbidden):
    """A valid key (or session) of a tenant the operator deactivated: 403, never 'scope'."""


@dataclass
class RateLimited(IEPError):
    retry_after: int
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        IEPError.__init__(self, "Rate limit exceeded")


class ConfigError(IEPError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
