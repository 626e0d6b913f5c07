"""`iep audit export`, and the audit entries of the operator's own commands.

Every command runs through `context.with_services`, which calls `record_command()` after a
command that changed something succeeded: actor `{type: "cli", id: <OS user>, name: "iep key
create"}`, the action from `COMMANDS`, the tenant from `--tenant`/the slug argument.
`iep audit export [--tenant SLUG] [--from ISO] [--to ISO]` prints one JSON object per line
(newest first; every tenant without --tenant) and, on stderr, a progress line every
`PROGRESS_EVERY` entries and a total at the end.
"""

import argparse
import getpass
import json
import sys
from typing import Any

from iep_appliance import wiring
from iep_appliance.cli.context import Services, with_services
from iep_appliance.cli.output import OK
from iep_appliance.domain.audit import AuditActor, AuditTarget, parse_query, to_json
from iep_appliance.domain.errors import NotFound

PROGRESS_EVERY = 1000

# (command, action) -> (audit action, target type, the argument naming the target)
COMMANDS: dict[tuple[str, str | None], tuple[str, str, str]] = {
    ("tenant", "create"): ("tenant.created", "tenant", "slug"),
    ("tenant", "deactivate"): ("tenant.deactivated", "tenant", "slug"),
    ("tenant", "activate"): ("tenant.activated", "tenant", "slug"),
    ("domain", "add"): ("domain.added", "domain", "domain"),
    ("domain", "remove"): ("domain.removed", "domain", "domain"),
    ("key", "create"): ("api_key.created", "apiKey", ""),
    ("key", "revoke"): ("api_key.revoked", "apiKey", "key"),
    ("key", "rotate"): ("api_key.rotated", "apiKey", "key"),
    ("admin-user", "create"): ("operator.created", "operator", "email"),
    ("admin-user", "set-password"): ("operator.password_set", "operator", "email"),
    ("admin-user", "delete"): ("operator.deleted", "operator", "email"),
    ("message", "retry"): ("message.retried", "message", "id"),
    ("dlq", "retry"): ("job.retried", "job", "jobs"),
    ("purge", None): ("storage.purged", "storage", ""),
}


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser("audit", help="the audit log: export")
    actions = group.add_subparsers(dest="action", required=True)
    ex = actions.add_parser(
        "export", parents=[common], help="the audit log as JSON lines (newest first) on stdout"
    )
    ex.add_argument("--tenant", default=None, help="tenant slug (default: every tenant)")
    ex.add_argument("--from", dest="since", default=None, help="ISO 8601, inclusive")
    ex.add_argument("--to", dest="until", default=None, help="ISO 8601, exclusive")
    ex.set_defaults(run=with_services(_export))


async def _tenant_id(s: Services, slug: str | None) -> str | None:
    if not slug:
        return None
    tenant = await s.all.store.get_tenant_by_slug(slug)
    if tenant is None:
        raise NotFound(f"No tenant {slug!r}")
    return tenant.id


async def _export(s: Services, args: argparse.Namespace) -> int:
    tenant_id = await _tenant_id(s, args.tenant)
    q = parse_query({"from": args.since, "to": args.until}, 1, None, tenant_id)
    n = 0
    out = sys.stdout
    async for entry in s.all.audit.export(tenant_id, q.since, q.until):
        out.write(json.dumps(to_json(entry), separators=(",", ":")) + "\n")
        n += 1
        if n % PROGRESS_EVERY == 0:
            print(f"exported {n} entries …", file=sys.stderr, flush=True)
    out.flush()
    print(f"exported {n} entries", file=sys.stderr, flush=True)
    return OK


async def record_command(rt: wiring.Services, args: argparse.Namespace) -> None:
    """The audit entry of a command that succeeded, when it is one that changes something."""
    rule = COMMANDS.get((args.command, getattr(args, "action", None)))
    if rule is None or getattr(args, "dry_run", False):
        return
    action, target_type, arg = rule
    slug = getattr(args, "tenant", None) or (
        getattr(args, "slug", None) if args.command == "tenant" else None
    )
    tenant = await rt.store.get_tenant_by_slug(slug) if slug else None
    value = getattr(args, arg, None) if arg else None
    target = " ".join(value) if isinstance(value, list) else value
    target = getattr(args, "audit_target", None) or target  # set by a command that made one
    name = " ".join(
        ["iep", args.command] + ([args.action] if getattr(args, "action", None) else [])
    )
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    await rt.audit.record(
        tenant.id if tenant else None,
        AuditActor("cli", user, name),
        action,
        AuditTarget(target_type, str(target) if target is not None else None),
    )
