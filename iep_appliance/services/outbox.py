"""A tenant's outbox as an API (DESIGN §10.2): list with filters, one message parsed, the
raw message as sent, and clearing it, so a product's CI asserts on its mail as it would with
a mail catcher. Another tenant's message id reads as missing."""

from iep_appliance.domain import ids
from iep_appliance.domain.cursors import decode_cursor, encode_cursor
from iep_appliance.domain.errors import FieldError, ValidationFailed, or_not_found
from iep_appliance.domain.outbox import OutboxEntry, OutboxFilter, ParsedMime, parse_mime
from iep_appliance.store.base import Store


class OutboxService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def list(
        self,
        tenant_id: str,
        to: str | None = None,
        subject: str | None = None,
        since: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[OutboxEntry], str | None]:
        errors: list[FieldError] = []
        since_iso = None
        if since is not None:
            try:
                since_iso = ids.iso(ids.parse_iso(since))
            except ValueError:
                errors.append(FieldError("since", "must be an ISO 8601 date-time"))
        if not 1 <= limit <= 200:
            errors.append(FieldError("limit", "must be between 1 and 200"))
        after = decode_cursor(cursor) if cursor else None
        if errors:
            raise ValidationFailed(errors)
        f = OutboxFilter(
            to=to,
            subject=subject,
            since=since_iso,
            limit=limit,
            after=(after[0], after[1]) if after else None,
        )
        items = await self.store.tenant_outbox(tenant_id, f)
        next_cursor = None
        if len(items) == limit:
            next_cursor = encode_cursor(items[-1].created_at, items[-1].message_id)
        return items, next_cursor

    async def raw(self, tenant_id: str, message_id: str) -> bytes:
        return or_not_found(
            await self.store.get_outbox(tenant_id, message_id), "No outbox message with this id"
        )

    async def get(self, tenant_id: str, message_id: str) -> tuple[OutboxEntry, ParsedMime]:
        mime = await self.raw(tenant_id, message_id)
        record = await self.store.get_message(tenant_id, message_id)
        entry = OutboxEntry(
            message_id=message_id,
            created_at=record.created_at if record else "",
            size_bytes=len(mime),
            subject=(record.rendered_subject or record.subject) if record else "",
            from_email=record.from_email if record else "",
            to=record.to if record else (),
            cc=record.cc if record else (),
            bcc=record.bcc if record else (),
        )
        return entry, parse_mime(mime)

    async def clear(self, tenant_id: str) -> int:
        return await self.store.clear_outbox(tenant_id)
