"""The dashboard's operator actions that are more than one call of a tenant service:
deactivating a tenant, dashboard users, and suppression lists as CSV.

Everything else the Tenants page does goes straight to the services the /v1 API uses (keys,
webhooks, suppressions, domains, tenant settings, queues, scheduled jobs). CSV import feeds
`SuppressionService.add`, so the rows are validated exactly like `POST /v1/suppressions`.
"""

import csv
import io
import re
from collections.abc import Callable

import msgspec

from iep_appliance.domain.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
    or_not_found,
)
from iep_appliance.domain.models import AdminUser, Tenant
from iep_appliance.domain.validation import normalize_address, suppression_key
from iep_appliance.services.keys import KeyService
from iep_appliance.services.passwords import hash_secret_async
from iep_appliance.services.suppressions import MAX_PER_REQUEST, SuppressionService
from iep_appliance.services.tenants import check_password, create_admin_user, create_tenant
from iep_appliance.store.base import Store

ROLES = ("admin", "viewer")
CSV_COLUMNS = ("email", "reason", "sourceMessageId", "createdAt")
MAX_CSV_ROWS = 100_000
MAX_CSV_BYTES = 10 * 1024 * 1024
_EMAILS_INDEX = re.compile(r"^emails\[(\d+)\]$")


class ImportReport(msgspec.Struct, frozen=True):
    """What a CSV import did: `invalid` is (row number, address, why) for each refused row."""

    added: int
    skipped: int
    invalid: list[tuple[int, str, str]]


class OperatorService:
    def __init__(
        self,
        store: Store,
        keys: KeyService,
        suppressions: SuppressionService,
        on_tenant_change: Callable[[str], None],
    ) -> None:
        self.store = store
        self.keys = keys
        self.suppressions = suppressions
        self.on_tenant_change = on_tenant_change

    # ---- tenants -------------------------------------------------------------------------

    async def tenant(self, tenant_id: str) -> Tenant:
        return or_not_found(await self.store.get_tenant(tenant_id), "Tenant not found")

    async def create_tenant(self, slug: str, name: str, domains: list[str]) -> Tenant:
        """As `iep tenants create`: ValidationFailed for a bad slug or domain, Conflict for a
        duplicate slug."""
        return await create_tenant(self.store, slug, name, domains)

    async def tenants(self) -> list[Tenant]:
        return await self.store.list_tenants()

    async def tenant_by_slug(self, slug: str) -> Tenant:
        return or_not_found(
            await self.store.get_tenant_by_slug(slug), f"No tenant with slug {slug!r}"
        )

    async def set_active(self, tenant_id: str, active: bool) -> Tenant:
        """A deactivated tenant's keys are refused at once (403) and it accepts nothing."""
        updated = or_not_found(
            await self.store.set_tenant_active(tenant_id, active), "Tenant not found"
        )
        self.keys.forget_tenant(tenant_id)
        self.on_tenant_change(tenant_id)
        return updated

    # ---- dashboard users -----------------------------------------------------------------

    async def users(self) -> list[AdminUser]:
        return await self.store.list_admin_users()

    async def user_by_email(self, email: str) -> AdminUser:
        found = await self.store.admin_user_by_email(email.strip().lower())
        if found is None:
            raise NotFound(f"No dashboard user {email.strip().lower()!r}")
        return found

    async def set_password(self, email: str, password: str) -> AdminUser:
        """A new password (at least 8 characters); the user's open sessions end."""
        user = await self.user_by_email(email)
        digest = await hash_secret_async(check_password(password))
        if not await self.store.set_admin_user_password(user.id, digest):
            raise NotFound(f"No dashboard user {user.email!r}")
        await self.store.drop_admin_sessions_of(user.email)
        return user

    async def create_user(self, email: str, role: str, password: str) -> str:
        """The new user's id (the same rules as `iep admin-user create`)."""
        return await create_admin_user(self.store, check_email(email), password, role)

    async def set_role(self, user_id: str, role: str, acting_email: str) -> AdminUser:
        if role not in ROLES:
            raise ValidationFailed([FieldError("role", "must be admin or viewer")])
        user = or_not_found(await self.store.get_admin_user(user_id), "No such dashboard user")
        if user.email == acting_email and role != user.role:
            raise Conflict("You cannot change your own role", {"reason": "self"})
        return or_not_found(
            await self.store.set_admin_user_role(user_id, role), "No such dashboard user"
        )

    async def delete_user(self, user_id: str, acting_email: str) -> AdminUser:
        """The deleted user. Refuses yourself and the last admin (Conflict)."""
        user = or_not_found(await self.store.get_admin_user(user_id), "No such dashboard user")
        if user.email == acting_email:
            raise Conflict("You cannot delete yourself", {"reason": "self"})
        if not await self.store.delete_admin_user(user_id):
            raise NotFound("No such dashboard user")
        return user

    # ---- suppressions as CSV -------------------------------------------------------------

    async def export_suppressions(self, tenant_id: str) -> str:
        """The whole list as CSV with a header row (`email,reason,sourceMessageId,createdAt`)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        cursor: str | None = None
        while True:
            items, cursor = await self.suppressions.list_page(tenant_id, None, 200, cursor)
            for s in items:
                writer.writerow((s.email, s.reason, s.source_message_id or "", s.created_at))
            if cursor is None:
                return out.getvalue()

    async def import_suppressions(self, tenant_id: str, data: bytes, reason: str) -> ImportReport:
        """Suppress the address in the first column of every row (a header row `email,...`
        and blank rows are passed over). Rows already suppressed, or repeated in the file,
        are skipped; the others are validated by SuppressionService.add."""
        rows = _csv_rows(data)
        keys = {suppression_key(e) for _n, e in rows}
        existing = set(await self.store.suppressed_among(tenant_id, sorted(keys)))
        added = skipped = 0
        invalid: list[tuple[int, str, str]] = []
        seen: set[str] = set()
        fresh: list[tuple[int, str]] = []
        for number, email in rows:
            key = suppression_key(email)
            if key in existing or key in seen:
                skipped += 1
            else:
                seen.add(key)
                fresh.append((number, email))
        for start in range(0, len(fresh), MAX_PER_REQUEST):
            chunk = fresh[start : start + MAX_PER_REQUEST]
            refused = await self._add_valid(tenant_id, chunk, reason)
            invalid.extend(refused)
            added += len(chunk) - len(refused)
        return ImportReport(added=added, skipped=skipped, invalid=invalid)

    async def _add_valid(
        self, tenant_id: str, chunk: list[tuple[int, str]], reason: str
    ) -> list[tuple[int, str, str]]:
        """Add the chunk's valid addresses; return the refused rows with the service's reason."""
        try:
            await self.suppressions.add(tenant_id, [e for _n, e in chunk], reason)
            return []
        except ValidationFailed as exc:
            bad: dict[int, str] = {}
            for err in exc.errors:
                found = _EMAILS_INDEX.match(err.path)
                if found is None:
                    raise  # not about one row (the reason): the whole import is refused
                bad[int(found.group(1))] = err.message
        refused = [(chunk[i][0], chunk[i][1], why) for i, why in sorted(bad.items())]
        rest = [e for i, (_n, e) in enumerate(chunk) if i not in bad]
        if rest:
            await self.suppressions.add(tenant_id, rest, reason)
        return refused


def _csv_rows(data: bytes) -> list[tuple[int, str]]:
    """(row number, first cell) of every non-blank row, without a header row."""
    if len(data) > MAX_CSV_BYTES:
        raise ValidationFailed(
            [FieldError("file", f"at most {MAX_CSV_BYTES // (1024 * 1024)} MiB")]
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed([FieldError("file", "must be UTF-8 text")]) from None
    out: list[tuple[int, str]] = []
    try:
        for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            first = row[0].strip() if row else ""
            if not first or (number == 1 and first.lower() == "email"):
                continue
            out.append((number, first))
            if len(out) > MAX_CSV_ROWS:
                raise ValidationFailed([FieldError("file", f"at most {MAX_CSV_ROWS} rows")])
    except csv.Error as exc:
        raise ValidationFailed([FieldError("file", f"not CSV: {exc}")]) from None
    if not out:
        raise ValidationFailed([FieldError("file", "has no addresses")])
    return out


def check_email(email: str) -> str:
    """A dashboard user's address, validated like a recipient, lower-cased."""
    try:
        return normalize_address(email.strip()).lower()
    except ValueError as exc:
        raise ValidationFailed([FieldError("email", str(exc))]) from None
