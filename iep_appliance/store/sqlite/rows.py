"""Row → domain Struct conversions shared by the SQLite aggregate modules."""

import sqlite3
from collections.abc import Sequence
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


def message(
    row: tuple[Any, ...],
    attachments: tuple[StoredAttachment, ...] = (),
    events: tuple[Event, ...] = (),
) -> MessageRecord:
    return MessageRecord(
        id=row[0],
        tenant_id=row[1],
        status=row[2],
        to=tuple(_json_decode(row[3])),
        cc=tuple(_json_decode(row[4])),
        bcc=tuple(_json_decode(row[5])),
        from_email=row[6],
        from_name=row[7],
        reply_to=row[8],
        subject=row[9],
        html_body=row[10],
        text_body=row[11],
        rendered_subject=row[12],
        rendered_html=row[13],
        rendered_text=row[14],
        variables=_json_decode(row[15]),
        metadata=_json_decode(row[16]),
        priority=row[17],
        provider=row[18],
        attempts=row[19],
        max_attempts=row[20],
        last_error=row[21],
        sandbox=bool(row[22]),
        queue=row[23],
        batch_id=row[24],
        scheduled_at=row[25],
        sent_at=row[26],
        created_at=row[27],
        display_names=_json_decode(row[28]),
        origin=row[29],
        origin_client=row[30],
        origin_user=row[31],
        kind=row[32],
        unsubscribe=bool(row[33]),
        template_id=row[34],
        template_version=row[35],
        tracking=row[36],
        attachments=attachments,
        events=events,
    )


JOB_COLUMNS = (
    "id, kind, ref_id, tenant_id, priority, attempts, max_attempts, run_at, payload, queue_id,"
    " traceparent"
)


def job(row: tuple[Any, ...]) -> Job:
    return Job(*row)
