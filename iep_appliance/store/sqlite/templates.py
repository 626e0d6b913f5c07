"""All SQL for stored templates and their versions (the verbs: store/sqlite/verbs/templates.py).
A version row is never updated (a trigger refuses it). Runs on the writer thread or a reader;
never awaits."""

import sqlite3
from typing import Any

import msgspec

from iep_appliance.domain.templates import TemplateVersion
from iep_appliance.store.sqlite import rows

INSERT_TEMPLATE = (
    "INSERT INTO templates (id, tenant_id, latest_version, created_at, updated_at)"
    " VALUES (?, ?, 1, ?, ?)"
)
INSERT_VERSION = (
    "INSERT INTO template_versions (template_id, version, tenant_id, name, subject, html_body,"
    " text_body, sample_variables, variables, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# Bump the latest version of a tenant's template; RETURNING gives the new number.
BUMP = (
    "UPDATE templates SET latest_version = latest_version + 1, updated_at = ?"
    " WHERE id = ? AND tenant_id = ? RETURNING latest_version, created_at"
)
_COLUMNS = (
    "v.template_id, v.tenant_id, v.version, v.name, v.subject, v.html_body, v.text_body,"
    " v.sample_variables, v.variables, v.created_at, t.created_at"
)
_JOIN = "FROM template_versions v JOIN templates t ON t.id = v.template_id"
SELECT_VERSION = f"SELECT {_COLUMNS} {_JOIN} WHERE t.tenant_id = ? AND t.id = ? AND v.version = ?"
SELECT_LATEST = (
    f"SELECT {_COLUMNS} {_JOIN} WHERE t.tenant_id = ? AND t.id = ? AND v.version = t.latest_version"
)
# A page of templates (their latest versions) by (created_at, id).
SELECT_PAGE = (
    f"SELECT {_COLUMNS} {_JOIN} WHERE t.tenant_id = ? AND v.version = t.latest_version"
    " AND (t.created_at, t.id) > (?, ?) ORDER BY t.created_at, t.id LIMIT ?"
)
SELECT_VERSIONS = (
    f"SELECT {_COLUMNS} {_JOIN} WHERE t.tenant_id = ? AND t.id = ? ORDER BY v.version DESC"
)
DELETE_VERSIONS = "DELETE FROM template_versions WHERE template_id = ? AND tenant_id = ?"
DELETE_TEMPLATE = "DELETE FROM templates WHERE id = ? AND tenant_id = ?"


def _version(row: tuple[Any, ...]) -> TemplateVersion:
    return rows.struct_of(
        TemplateVersion,
        row,
        sample_variables=rows.loads(row[7], {}),
        variables=tuple(rows.loads(row[8], [])),
    )


def _insert_version(conn: sqlite3.Connection, v: TemplateVersion) -> None:
    conn.execute(
        INSERT_VERSION,
        (
            v.id,
            v.version,
            v.tenant_id,
            v.name,
            v.subject,
            v.html_body,
            v.text_body,
            rows.dumps(v.sample_variables),
            rows.dumps(list(v.variables)),
            v.created_at,
        ),
    )


def create(conn: sqlite3.Connection, v: TemplateVersion) -> TemplateVersion:
    conn.execute(INSERT_TEMPLATE, (v.id, v.tenant_id, v.created_at, v.created_at))
    first = msgspec.structs.replace(v, version=1, template_created_at=v.created_at)
    _insert_version(conn, first)
    return first


def add_version(conn: sqlite3.Connection, v: TemplateVersion) -> TemplateVersion | None:
    row = conn.execute(BUMP, (v.created_at, v.id, v.tenant_id)).fetchone()
    if row is None:
        return None
    stored = msgspec.structs.replace(v, version=row[0], template_created_at=row[1])
    _insert_version(conn, stored)
    return stored


def get(
    conn: sqlite3.Connection, tenant_id: str, template_id: str, version: int | None
) -> TemplateVersion | None:
    if version is None:
        return rows.one(conn, SELECT_LATEST, (tenant_id, template_id), _version)
    return rows.one(conn, SELECT_VERSION, (tenant_id, template_id, version), _version)


def page(
    conn: sqlite3.Connection, tenant_id: str, limit: int, after: tuple[str, str] | None
) -> list[TemplateVersion]:
    return rows.page(conn, SELECT_PAGE, (tenant_id,), after or rows.FIRST_PAGE, limit, _version)


def versions(conn: sqlite3.Connection, tenant_id: str, template_id: str) -> list[TemplateVersion]:
    return [_version(r) for r in conn.execute(SELECT_VERSIONS, (tenant_id, template_id))]


def delete(conn: sqlite3.Connection, tenant_id: str, template_id: str) -> bool:
    if conn.execute(DELETE_TEMPLATE, (template_id, tenant_id)).rowcount != 1:
        return False
    conn.execute(DELETE_VERSIONS, (template_id, tenant_id))
    return True
