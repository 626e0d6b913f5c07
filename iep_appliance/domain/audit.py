"""The audit log's records and rules (DESIGN §10.5). Pure.

An entry says who (`actor`: an API key, a dashboard operator, the CLI or the system) did what
(`action`, e.g. `api_key.created`) to which thing (`target`), from where (`ip`), with a few
safe `details` (field names, never values: no secrets, no bodies). An email address never goes
into an entry as it is: `redact()` turns it into `sha256:…`, so a GDPR erase leaves nothing of
the address in the append-only log (and the same address still maps to the same hash).
"""

import base64
import hashlib
from datetime import datetime
from typing import Any

import msgspec

from iep_appliance.domain import ids
from iep_appliance.domain.errors import BadRequest, FieldError

ACTOR_TYPES = ("apiKey", "operator", "cli", "system")
NOTE_STATE = "iep_audit"  # the ASGI scope state key of a handler's note to the audit trail
MAX_LIMIT = 500


class AuditActor(msgspec.Struct, frozen=True):
    type: str  # one of ACTOR_TYPES
    id: str = ""
    name: str = ""


class AuditTarget(msgspec.Struct, frozen=True):
    type: str = ""
    id: str | None = None


class AuditEntry(msgspec.Struct, frozen=True):
    id: str
    at: str
    tenant_id: str | None
    actor: AuditActor
    action: str
    target: AuditTarget
    ip: str | None = None
    details: dict[str, Any] = msgspec.field(default_factory=dict)
    seq: int = 0  # the store's order; 0 until stored


class AuditQuery(msgspec.Struct, frozen=True):
    """A page of entries, newest first. tenant_id None: every tenant (the dashboard)."""

    tenant_id: str | None = None
    actor: str | None = None  # an actor id, name or type
    action: str | None = None  # exact, or a prefix ending in "." / "*" (`api_key.*`)
    since: str | None = None  # inclusive, ISO 8601
    until: str | None = None  # exclusive
    before_seq: int | None = None
    limit: int = 50


def note(scope: dict[str, Any], **fields: Any) -> None:
    """Tell the audit trail (api/audit_trail.py) more about this request: `action`, `actor`
    (AuditActor), `target_id`, `tenant_id`, `details` (merged). A noted request is recorded
    whatever its status (a failed login), except one noted `refused=True` (nothing changed)."""
    found = scope.setdefault("state", {}).setdefault(NOTE_STATE, {})
    details = fields.pop("details", None)
    found.update(fields)
    if details:
        found.setdefault("details", {}).update(details)


def redact(value: str | None) -> str | None:
    """An email address as `sha256:<hex>` (lower-cased first); anything else unchanged."""
    if value is None or "@" not in value:
        return value
    return "sha256:" + hashlib.sha256(value.strip().lower().encode()).hexdigest()


def _instant(name: str, value: str | None, errors: list[FieldError]) -> str | None:
    if value is None or value == "":
        return None
    try:
        return ids.iso(ids.parse_iso(value))
    except ValueError:
        errors.append(FieldError(name, "must be an ISO 8601 date-time (e.g. 2026-01-31T00:00:00Z)"))
        return None


def parse_query(
    params: dict[str, str | None], limit: int, cursor: str | None, tenant_id: str | None
) -> AuditQuery:
    """The filter of `GET /v1/audit-logs` (and the dashboard's). Raises BadRequest naming the
    parameter: a date that does not parse, `from` not before `to`, a bad cursor or limit."""
    errors: list[FieldError] = []
    since = _instant("from", params.get("from"), errors)
    until = _instant("to", params.get("to"), errors)
    if since is not None and until is not None and since >= until:
        errors.append(FieldError("to", "must be after `from`"))
    if not 1 <= limit <= MAX_LIMIT:
        errors.append(FieldError("limit", f"must be between 1 and {MAX_LIMIT}"))
    before = None
    if cursor:
        try:
            before = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        except (ValueError, UnicodeDecodeError):
            errors.append(FieldError("cursor", "not a valid cursor"))
    if errors:
        raise BadRequest(errors, "Bad audit log query: " + ", ".join(e.path for e in errors))
    return AuditQuery(
        tenant_id=tenant_id,
        actor=(params.get("actor") or None),
        action=(params.get("action") or None),
        since=since,
        until=until,
        before_seq=before,
        limit=limit,
    )


def next_cursor(page: list[AuditEntry], limit: int) -> str | None:
    if len(page) < limit or not page:
        return None
    return base64.urlsafe_b64encode(str(page[-1].seq).encode()).decode().rstrip("=")


def action_pattern(action: str) -> tuple[str, bool]:
    """(text, is_prefix): `api_key.*` and `api_key.` match every api_key action."""
    if action.endswith("*"):
        return action[:-1], True
    if action.endswith("."):
        return action, True
    return action, False


def retention_cutoff(now: datetime, days: int) -> str | None:
    """Entries before this instant may be purged; None when kept forever (days = 0)."""
    if days <= 0:
        return None
    from datetime import timedelta

    return ids.iso(now - timedelta(days=days))


def to_json(entry: AuditEntry) -> dict[str, Any]:
    """The public shape (API, `iep audit export`)."""
    return {
        "id": entry.id,
        "at": entry.at,
        "tenantId": entry.tenant_id,
        "actor": {"type": entry.actor.type, "id": entry.actor.id, "name": entry.actor.name},
        "action": entry.action,
        "target": {"type": entry.target.type, "id": entry.target.id},
        "ip": entry.ip,
        "details": entry.details,
    }
