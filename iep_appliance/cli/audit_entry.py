"""The audit entries of the operator's own commands. `context.with_services` calls
`record_command()` after a command that changed something succeeded: actor `{type: "cli",
id: <OS user>, name: "iep key create"}`, the action from `COMMANDS`, the tenant from
`--tenant`/the slug argument."""

import argparse
import getpass

from iep_appliance import wiring
from iep_appliance.domain.audit import AuditActor, AuditTarget

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
