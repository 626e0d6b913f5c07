"""`iep queue list`, `iep message show|retry`, `iep dlq list|retry`: what the dashboard's
Messages and Queue pages do, across tenants (a message is named by its id alone)."""

import argparse
from typing import Any

from iep_appliance.cli.context import Services, add_command, add_group
from iep_appliance.cli.output import NOT_FOUND, OK, REFUSED, emit, fail, table
from iep_appliance.domain.dashboard import DeadJob
from iep_appliance.domain.models import MessageRecord
from iep_appliance.services.dashboard_actions import parse_job_ids


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    actions = add_group(sub, "queue", "a tenant's named queues: list")
    add_command(actions, common, "list", "a tenant's queues and their depth", _queues, tenant=True)

    actions = add_group(sub, "message", "one message of any tenant: show, retry")
    sh = add_command(actions, common, "show", "a message with its events", _show)
    sh.add_argument("id", help="message id")
    rt = add_command(actions, common, "retry", "queue a failed message again", _retry)
    rt.add_argument("id", help="message id")

    actions = add_group(sub, "dlq", "dead-lettered jobs: list, retry")
    ls = add_command(actions, common, "list", "dead jobs, newest first", _dlq)
    ls.add_argument("--before", default=None, help="job id: the page after it (nextCursor)")
    rt = add_command(actions, common, "retry", "retry dead jobs by number", _dlq_retry)
    rt.add_argument("jobs", nargs="+", help="job numbers (from `iep dlq list`)")


async def _queues(s: Services, args: argparse.Namespace) -> int:
    tenant = await s.operators.tenant_by_slug(args.tenant)
    queues, _ = await s.queues.list(tenant.id, limit=200)
    data, rows = [], [["NAME", "STATE", "PRIORITY", "READY", "DELAYED", "LEASED", "ID"]]
    for q in queues:
        _, stats, _age = await s.queues.stats(tenant.id, q.id)
        d = stats.depth
        data.append({"id": q.id, "name": q.name, "state": q.state, "priority": q.priority,
                     "ratePerMinute": q.rate_per_minute, "depth": d})  # fmt: skip
        rows.append([q.name, q.state, str(q.priority), str(d.get("ready", 0)),
                     str(d.get("delayed", 0)), str(d.get("leased", 0)), q.id])  # fmt: skip
    emit(args, {"data": data}, table(rows))
    return OK


def message_json(m: MessageRecord) -> dict[str, Any]:
    return {
        "messageId": m.id,
        "tenantId": m.tenant_id,
        "status": m.status,
        "from": m.from_email,
        "to": list(m.to),
        "cc": list(m.cc),
        "bcc": list(m.bcc),
        "subject": m.rendered_subject or m.subject,
        "queue": m.queue,
        "provider": m.provider,
        "attempts": m.attempts,
        "maxAttempts": m.max_attempts,
        "lastError": m.last_error,
        "sandbox": m.sandbox,
        "createdAt": m.created_at,
        "sentAt": m.sent_at,
        "events": [{"type": e.type, "timestamp": e.timestamp, "data": e.data} for e in m.events],
    }


async def _show(s: Services, args: argparse.Namespace) -> int:
    m = await s.dashboard.message(args.id)
    slugs = await s.dashboard.tenant_slugs()
    lines = [
        f"message {m.id}  {m.status}",
        f"  tenant   {slugs.get(m.tenant_id, m.tenant_id)}",
        f"  from     {m.from_email}",
        f"  to       {', '.join(m.to)}",
        f"  subject  {m.rendered_subject or m.subject}",
        f"  queue    {m.queue}   attempts {m.attempts}/{m.max_attempts}",
    ]
    if m.last_error:
        lines.append(f"  error    {m.last_error}")
    lines.append("  events")
    lines += [f"    {e.timestamp}  {e.type}" for e in m.events]
    emit(args, {**message_json(m), "tenant": slugs.get(m.tenant_id)}, "\n".join(lines))
    return OK


async def _retry(s: Services, args: argparse.Namespace) -> int:
    result = await s.actions.retry([args.id])
    if result.refused:
        _id, why = result.refused[0]
        code = NOT_FOUND if "not found" in why.lower() else REFUSED
        return fail([why], code)
    emit(args, {"messageId": args.id, "retried": True}, f"message {args.id} queued again")
    return OK


def dead_json(j: DeadJob, slugs: dict[str, str]) -> dict[str, Any]:
    return {
        "job": j.id,
        "kind": j.kind,
        "ref": j.ref_id,
        "tenant": slugs.get(j.tenant_id, j.tenant_id),
        "attempts": j.attempts,
        "lastError": j.last_error,
        "updatedAt": j.updated_at,
        "subject": j.subject,
        "to": list(j.to),
    }


async def _dlq(s: Services, args: argparse.Namespace) -> int:
    view = await s.dashboard.queue(args.before)
    slugs = await s.dashboard.tenant_slugs()
    rows = [["JOB", "KIND", "TENANT", "REF", "ATTEMPTS", "LAST ERROR"]]
    rows += [
        [str(j.id), j.kind, slugs.get(j.tenant_id, j.tenant_id), j.ref_id, str(j.attempts),
         (j.last_error or "")[:60]]
        for j in view.dead
    ]  # fmt: skip
    text = table(rows)
    if view.next_cursor:
        text += f"\n(more: iep dlq list --before {view.next_cursor})"
    obj = {"data": [dead_json(j, slugs) for j in view.dead], "nextCursor": view.next_cursor}
    emit(args, obj, text)
    return OK


async def _dlq_retry(s: Services, args: argparse.Namespace) -> int:
    result = await s.actions.retry_jobs(parse_job_ids(args.jobs))
    refused = [{"job": job, "error": why} for job, why in result.refused]
    lines = [f"{result.done} job(s) retried"]
    lines += [f"job {r['job']}: {r['error']}" for r in refused]
    emit(args, {"retried": result.done, "refused": refused}, "\n".join(lines))
    return OK if not refused else REFUSED
