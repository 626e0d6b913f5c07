"""All SQL for webhook endpoints and their delivery attempts.

Runs on a connection handed in by the writer or a reader. Every statement a tenant's request
reaches is scoped by `tenant_id`. An attempt is recorded with the next state of its `webhook`
job (and the endpoint's health) in the caller's transaction.
"""

import sqlite3
from collections.abc import Callable
from typing import Any

from iep_appliance.domain.webhooks import (
    EndpointChange,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    resend_payload,
)
from iep_appliance.store.sqlite import rows
from iep_appliance.store.sqlite.jobs import INSERT_WEBHOOK_JOB, JOB_DEAD, JOB_DONE, JOB_RETRY

ENDPOINT_COLUMNS = (
    "id, tenant_id, url, events, secret, old_secret, old_secret_until, active, disabled_reason,"
    " failing_since, created_at, updated_at, format"
)
DELIVERY_COLUMNS = (
    "id, endpoint_id, tenant_id, webhook_id, event, message_id, attempt, status_code, latency_ms,"
    " error, next_retry_at, created_at, job_id"
)

INSERT_ENDPOINT = (
    f"INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS})"
    " VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, NULL, NULL, ?, ?, ?)"
)
SELECT_ENDPOINT = f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = ? AND id = ?"
# A tenant's endpoints, oldest first, after a (created_at, id) cursor.
LIST_ENDPOINTS = (
    f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = ?"
    " AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?"
)
# Fields left NULL keep their value; re-enabling clears the reason and the failure streak.
UPDATE_ENDPOINT = (
    "UPDATE webhook_endpoints SET url = coalesce(?, url), events = coalesce(?, events),"
    " active = coalesce(?, active),"
    " disabled_reason = CASE WHEN ? = 1 THEN NULL ELSE disabled_reason END,"
    " failing_since = CASE WHEN ? = 1 THEN NULL ELSE failing_since END,"
    " updated_at = ? WHERE tenant_id = ? AND id = ?"
)
# Rotation: the previous secret keeps signing until old_secret_until.
ROTATE_SECRET = (
    "UPDATE webhook_endpoints SET old_secret = secret, old_secret_until = ?, secret = ?"
    " WHERE tenant_id = ? AND id = ?"
)
DELETE_ENDPOINT = "DELETE FROM webhook_endpoints WHERE tenant_id = ? AND id = ?"
DELETE_DELIVERIES = "DELETE FROM webhook_deliveries WHERE tenant_id = ? AND endpoint_id = ?"
# Events of a deleted endpoint, unclaimed or already in the DLQ: cancelled (done, with the
# reason), never dead, as nothing could ever deliver them.
CANCEL_ENDPOINT_JOBS = (
    "UPDATE jobs SET state = 'done', last_error = ?, lease_until = NULL, updated_at = ?"
    " WHERE kind = 'webhook' AND ref_id = ? AND state IN ('ready', 'dead')"
)
# One claimed event whose endpoint was deleted meanwhile: cancelled the same way.
CANCEL_JOB = (
    "UPDATE jobs SET state = 'done', last_error = ?, lease_until = NULL, updated_at = ?"
    " WHERE id = ?"
)
# Events not yet claimed for an endpoint that is disabled go to the DLQ (re-sent once enabled).
CANCEL_READY_JOBS = (
    "UPDATE jobs SET state = 'dead', last_error = ?, lease_until = NULL, updated_at = ?"
    " WHERE kind = 'webhook' AND ref_id = ? AND state = 'ready'"
)
# An endpoint's health after an attempt: a success ends the failure streak.
MARK_HEALTHY = "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ?"
MARK_FAILING = (
    "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, ?) WHERE id = ?"
)
DISABLE_IF_FAILING = (
    "UPDATE webhook_endpoints SET active = 0, disabled_reason = ?, updated_at = ?"
    " WHERE id = ? AND active = 1 AND failing_since IS NOT NULL AND failing_since <= ?"
)
ENDPOINT_EXISTS = "SELECT 1 FROM webhook_endpoints WHERE id = ?"
INSERT_DELIVERY = (
    f"INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS})"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# An endpoint's attempts, newest first, before a (created_at, id) cursor.
LIST_DELIVERIES = (
    f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = ? AND endpoint_id = ?"
    " AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?"
)
SELECT_DELIVERY = (
    f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries"
    " WHERE tenant_id = ? AND endpoint_id = ? AND id = ?"
)
SELECT_JOB_PAYLOAD = "SELECT payload FROM jobs WHERE id = ? AND kind = 'webhook' AND tenant_id = ?"

_LAST = ("\uffff", "\uffff")  # sorts after every timestamp and id: the first page of a DESC list


def endpoint(row: tuple[Any, ...]) -> WebhookEndpoint:
    return rows.struct_of(
        WebhookEndpoint, row, events=tuple(rows.loads(row[3], [])), active=bool(row[7])
    )


def delivery(row: tuple[Any, ...]) -> WebhookDelivery:
    return WebhookDelivery(*row)


def insert_endpoint(conn: sqlite3.Connection, e: WebhookEndpoint) -> WebhookEndpoint:
    conn.execute(
        INSERT_ENDPOINT,
        (
            e.id,
            e.tenant_id,
            e.url,
            rows.dumps(list(e.events)),
            e.secret,
            int(e.active),
            e.created_at,
            e.updated_at,
            e.format,
        ),
    )
    return e


def get_endpoint(
    conn: sqlite3.Connection, tenant_id: str, endpoint_id: str
) -> WebhookEndpoint | None:
    return rows.one(conn, SELECT_ENDPOINT, (tenant_id, endpoint_id), endpoint)


def list_endpoints(
    conn: sqlite3.Connection, tenant_id: str, limit: int, after: tuple[str, str] | None
) -> list[WebhookEndpoint]:
    return rows.page(conn, LIST_ENDPOINTS, (tenant_id,), after or rows.FIRST_PAGE, limit, endpoint)


def update_endpoint(
    conn: sqlite3.Connection, tenant_id: str, endpoint_id: str, c: EndpointChange
) -> WebhookEndpoint | None:
    events = rows.dumps(list(c.events)) if c.events is not None else None
    active = None if c.active is None else int(c.active)
    enabling = int(c.active is True)
    conn.execute(
        UPDATE_ENDPOINT,
        (c.url, events, active, enabling, enabling, c.updated_at, tenant_id, endpoint_id),
    )
    if c.new_secret is not None:
        conn.execute(ROTATE_SECRET, (c.old_secret_until, c.new_secret, tenant_id, endpoint_id))
    return get_endpoint(conn, tenant_id, endpoint_id)


def delete_endpoint(conn: sqlite3.Connection, tenant_id: str, endpoint_id: str, now: str) -> bool:
    if conn.execute(DELETE_ENDPOINT, (tenant_id, endpoint_id)).rowcount != 1:
        return False
    conn.execute(DELETE_DELIVERIES, (tenant_id, endpoint_id))
    conn.execute(CANCEL_ENDPOINT_JOBS, ("endpoint deleted", now, endpoint_id))
    return True


def record_attempt(conn: sqlite3.Connection, a: WebhookAttempt, now: str) -> bool:
    """Record one attempt, the job's next state and the endpoint's health. True if this
    attempt disabled the endpoint."""
    d = a.delivery
    if a.outcome == "delivered":
        conn.execute(JOB_DONE, (now, a.job_id))
    elif a.outcome == "retrying":
        conn.execute(JOB_RETRY, (d.next_retry_at, d.error, now, a.job_id))
    else:
        conn.execute(JOB_DEAD, (d.error, now, a.job_id))
    if conn.execute(ENDPOINT_EXISTS, (d.endpoint_id,)).fetchone() is None:
        return False  # deleted while the request was in flight: nothing to show it under
    conn.execute(INSERT_DELIVERY, rows.values_of(d, job_id=a.job_id))
    if a.outcome == "delivered":
        conn.execute(MARK_HEALTHY, (d.endpoint_id,))
        return False
    conn.execute(MARK_FAILING, (d.created_at, d.endpoint_id))
    if a.disable_if_failing_since is None:
        return False
    disabled = (
        conn.execute(
            DISABLE_IF_FAILING,
            (a.disabled_reason, now, d.endpoint_id, a.disable_if_failing_since),
        ).rowcount
        == 1
    )
    if disabled:
        conn.execute(CANCEL_READY_JOBS, ("endpoint disabled", now, d.endpoint_id))
    return disabled


def cancel_job(conn: sqlite3.Connection, job_id: int, reason: str, now: str) -> None:
    """A webhook job whose endpoint was deleted: done with `reason`, not in the DLQ."""
    conn.execute(CANCEL_JOB, (reason, now, job_id))


def drop_job(conn: sqlite3.Connection, job_id: int, reason: str, now: str) -> None:
    """A webhook job that cannot be delivered at all (endpoint gone or inactive): DLQ."""
    conn.execute(JOB_DEAD, (reason, now, job_id))


def list_deliveries(
    conn: sqlite3.Connection,
    tenant_id: str,
    endpoint_id: str,
    limit: int,
    before: tuple[str, str] | None,
) -> list[WebhookDelivery]:
    cursor = before or _LAST
    return rows.page(conn, LIST_DELIVERIES, (tenant_id, endpoint_id), cursor, limit, delivery)


def get_delivery(
    conn: sqlite3.Connection, tenant_id: str, endpoint_id: str, delivery_id: str
) -> WebhookDelivery | None:
    return rows.one(conn, SELECT_DELIVERY, (tenant_id, endpoint_id, delivery_id), delivery)


def resend_delivery(
    conn: sqlite3.Connection,
    tenant_id: str,
    endpoint_id: str,
    delivery_id: str,
    now: str,
    max_attempts: int,
) -> WebhookDelivery | str | None:
    """Enqueue the delivery's event again with its `webhook-id`.

    Returns the delivery, None when there is no such delivery, or a reason string when its
    event can no longer be sent.
    """
    found = get_delivery(conn, tenant_id, endpoint_id, delivery_id)
    if found is None:
        return None
    row = (
        conn.execute(SELECT_JOB_PAYLOAD, (found.job_id, tenant_id)).fetchone()
        if found.job_id is not None
        else None
    )
    if row is None or not row[0]:
        return "the event of this delivery is no longer stored"
    payload = resend_payload(rows.loads(row[0], {}), found.webhook_id, endpoint_id)
    conn.execute(
        INSERT_WEBHOOK_JOB,
        (endpoint_id, tenant_id, now, max_attempts, rows.dumps(payload), now, now),
    )
    return found


SECRETS = "SELECT tenant_id, id, secret, old_secret FROM webhook_endpoints"
RESEAL = "UPDATE webhook_endpoints SET secret = ?, old_secret = ? WHERE tenant_id = ? AND id = ?"


def reseal_secrets(conn: sqlite3.Connection, reseal: Callable[[str, str], str]) -> int:
    """Every endpoint's secret and previous secret through `reseal(context, stored)`; the
    rows whose values change are rewritten. Returns how many values changed."""
    changed = 0
    for tenant_id, id_, secret, old in conn.execute(SECRETS).fetchall():
        ctx = f"webhook:{tenant_id}:{id_}"
        new_secret = reseal(ctx, secret)
        new_old = reseal(ctx, old) if old else old
        n = (new_secret != secret) + (new_old != old)
        if n:
            conn.execute(RESEAL, (new_secret, new_old, tenant_id, id_))
            changed += n
    return changed
