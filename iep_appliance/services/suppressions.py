"""A tenant's suppression list: list (cursor, substring search), add manually, remove.

Addresses are validated like a send's recipients, then compared case-insensitively
(`domain.validation.suppression_key`). Automatic entries come from the third hard bounce
(store, at send completion) and carry their reason and source message.
"""

from iep_appliance.domain.cursors import decode_cursor, encode_cursor
from iep_appliance.domain.errors import FieldError, NotFound, ValidationFailed
from iep_appliance.domain.models import Suppression
from iep_appliance.domain.validation import normalize_address, suppression_key
from iep_appliance.store.base import Store

MAX_PER_REQUEST = 1000
MANUAL_REASONS = ("manual", "complaint")
MAX_SEARCH = 320


class SuppressionService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def list_page(
        self, tenant_id: str, search: str | None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Suppression], str | None]:
        errors: list[FieldError] = []
        if not 1 <= limit <= 200:
            errors.append(FieldError("limit", "must be between 1 and 200"))
        if search is not None and len(search) > MAX_SEARCH:
            errors.append(FieldError("search", f"at most {MAX_SEARCH} characters"))
        after = decode_cursor(cursor, 1)[0] if cursor else ""
        if errors:
            raise ValidationFailed(errors)
        term = search.strip().lower() if search and search.strip() else None
        items = await self.store.list_suppressions(tenant_id, term, after, limit)
        nxt = encode_cursor(items[-1].email) if len(items) == limit else None
        return items, nxt

    async def add(self, tenant_id: str, emails: list[str], reason: str) -> list[Suppression]:
        """Suppress every address (validated; 422 names `emails[i]`). Existing entries stay."""
        errors: list[FieldError] = []
        if reason not in MANUAL_REASONS:
            errors.append(FieldError("reason", f"must be one of {', '.join(MANUAL_REASONS)}"))
        if not emails:
            errors.append(FieldError("emails", "at least one address is required"))
        if len(emails) > MAX_PER_REQUEST:
            errors.append(FieldError("emails", f"at most {MAX_PER_REQUEST} addresses"))
        keys: list[str] = []
        for i, email in enumerate(emails[:MAX_PER_REQUEST]):
            try:
                keys.append(suppression_key(normalize_address(email)))
            except ValueError as exc:
                errors.append(FieldError(f"emails[{i}]", str(exc)))
        if errors:
            raise ValidationFailed(errors)
        return await self.store.add_suppressions(tenant_id, list(dict.fromkeys(keys)), reason)

    async def remove(self, tenant_id: str, email: str) -> None:
        try:
            key = suppression_key(normalize_address(email))
        except ValueError:
            key = suppression_key(email)  # not an address at all: it cannot be listed either
        if not await self.store.remove_suppression(tenant_id, key):
            raise NotFound("Address is not suppressed")
