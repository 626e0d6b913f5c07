"""Row ↔ domain Struct conversions, and the one-row and page reads, shared by the SQLite
aggregate modules."""

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec

from iep_appliance.domain.models import (
    ApiKey,
    Event,
    Job,
    MessageRecord,
    StoredAttachment,
    Tenant,
    TenantSettings,
)

_json_decode = msgspec.json.decode
json_encode = msgspec.json.encode

S = TypeVar("S", bound=msgspec.Struct)
T = TypeVar("T")


def dumps(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def loads(text: str | None, default: Any = None) -> Any:
    if text is None:
        return default
    return _json_decode(text)


def struct_of(cls: type[S], row: Sequence[Any], **decoded: Any) -> S:
    """A `cls` from a row whose columns are the Struct's fields in order (its SELECT lists them
    so); `decoded` gives, by field name, the columns that need decoding (JSON text, 0/1 as
    bool). Fields past the row's end keep their defaults."""
    fields = cls.__struct_fields__
    if len(row) > len(fields):
        raise ValueError(f"{len(row)} columns for the {len(fields)} fields of {cls.__name__}")
    values = dict(zip(fields, row, strict=False))
    values.update(decoded)
    return cls(**values)


def values_of(s: msgspec.Struct, **encoded: Any) -> tuple[Any, ...]:
    """The inverse of `struct_of`: the parameters of a statement whose columns are the fields of
    `s` in order (its INSERT lists them so); `encoded` gives, by field name, the values to bind
    instead (JSON text, a bool as 0/1)."""
    fields = s.__struct_fields__
    unknown = encoded.keys() - set(fields)
    if unknown:
        raise ValueError(f"{type(s).__name__} has no field {', '.join(sorted(unknown))}")
    return tuple(encoded[f] if f in encoded else getattr(s, f) for f in fields)


def one(
    conn: sqlite3.Connection, sql: str, args: Sequence[Any], decode: Callable[[Any], T]
) -> T | None:
    """`decode` of the row `sql` finds, or None when it finds none."""
    row = conn.execute(sql, args).fetchone()
    return decode(row) if row else None


FIRST_PAGE = ("", "")  # sorts before every (created_at, id): the cursor of an ascending first page


def page(
    conn: sqlite3.Connection,
    sql: str,
    scope: Sequence[Any],
    cursor: tuple[str, str],
    limit: int,
    decode: Callable[[Any], T],
) -> list[T]:
    """A page of rows by `sql`, whose parameters are `scope` (the tenant, …), the cursor's two
    columns (its ORDER BY's: created_at and id) and the page size, in that order."""
    return [decode(r) for r in conn.execute(sql, (*scope, *cursor, limit))]


def tenant(row: sqlite3.Row | tuple[Any, ...]) -> Tenant:
    id_, slug, name, settings, active, created_at = row
    return Tenant(
        id=id_,
        slug=slug,
        name=name,
        active=bool(active),
        settings=msgspec.json.decode(settings, type=TenantSettings),
        created_at=created_at,
    )


TENANT_COLUMNS = "id, slug, name, settings, active, created_at"

KEY_COLUMNS = (
    "id, tenant_id, name, key_prefix, key_hash, scopes, sandbox, active, expires_at,"
    " last_used_at, created_at, ip_allowlist"
)


def api_key(row: tuple[Any, ...]) -> ApiKey:
    return struct_of(
        ApiKey,
        row,
        scopes=tuple(loads(row[5], [])),
        sandbox=bool(row[6]),
        active=bool(row[7]),
        ip_allowlist=tuple(loads(row[11], [])),
    )


MESSAGE_COLUMNS = (
    "id, tenant_id, status, to_addrs, cc_addrs, bcc_addrs, from_email, from_name, reply_to,"
    " subject, html_body, text_body, rendered_subject, rendered_html, rendered_text, variables,"
    " metadata, priority, provider, attempts, max_attempts, last_error, sandbox, queue,"
    " batch_id, scheduled_at, sent_at, created_at, display_names, origin, origin_client,"
    " origin_user, kind, unsubscribe, template_id, template_version, tracking"
)


# The MessageRecord fields MESSAGE_COLUMNS selects, in its order (to_addrs is `to`, …).
MESSAGE_FIELDS = (
    "id", "tenant_id", "status", "to", "cc", "bcc", "from_email", "from_name", "reply_to",
    "subject", "html_body", "text_body", "rendered_subject", "rendered_html", "rendered_text",
    "variables", "metadata", "priority", "provider", "attempts", "max_attempts", "last_error",
    "sandbox", "queue", "batch_id", "scheduled_at", "sent_at", "created_at", "display_names",
    "origin", "origin_client", "origin_user", "kind", "unsubscribe", "template_id",
    "template_version", "tracking",
)  # fmt: skip


def message(
    row: tuple[Any, ...],
    attachments: tuple[StoredAttachment, ...] = (),
    events: tuple[Event, ...] = (),
) -> MessageRecord:
    values = dict(zip(MESSAGE_FIELDS, row, strict=True))
    values.update(
        to=tuple(_json_decode(values["to"])),
        cc=tuple(_json_decode(values["cc"])),
        bcc=tuple(_json_decode(values["bcc"])),
        variables=_json_decode(values["variables"]),
        metadata=_json_decode(values["metadata"]),
        sandbox=bool(values["sandbox"]),
        display_names=_json_decode(values["display_names"]),
        unsubscribe=bool(values["unsubscribe"]),
    )
    return MessageRecord(**values, attachments=attachments, events=events)


JOB_COLUMNS = (
    "id, kind, ref_id, tenant_id, priority, attempts, max_attempts, run_at, payload, queue_id,"
    " traceparent"
)


def job(row: tuple[Any, ...]) -> Job:
    return Job(*row)
