"""`iep key create|list|revoke|rotate`: a tenant's API keys. A key is named by its id or its
8-character prefix (the part after `iep_` that `key list` shows)."""

import argparse
from datetime import timedelta
from typing import Any

from iep_appliance.cli.context import Services, add_command, add_group
from iep_appliance.cli.output import OK, emit, fail, table
from iep_appliance.domain.errors import NotFound
from iep_appliance.domain.models import ApiKey
from iep_appliance.domain.scopes import ALL_SCOPES, SANDBOX_DEFAULT_SCOPES, parse_scopes
from iep_appliance.services.keys import ROTATE_GRACE_SECONDS as ROTATE_GRACE


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    actions = add_group(sub, "key", "API keys: create, list, revoke, rotate")
    c = add_command(
        actions, common, "create", "create an API key (shown once)", _create, tenant=True
    )
    c.add_argument(
        "--scopes", default=None, help="default: send,read,admin (a sandbox key: send,read)"
    )
    c.add_argument("--name", default="")
    c.add_argument("--expires-days", type=int, default=None)
    c.add_argument("--sandbox", action="store_true", help="a sandbox key (delivers to outbox)")
    add_command(actions, common, "list", "a tenant's active keys", _list, tenant=True)
    rv = add_command(actions, common, "revoke", "revoke a key at once", _revoke, tenant=True)
    rv.add_argument("key", help="key id or prefix")
    ro = add_command(
        actions,
        common,
        "rotate",
        "a new key with the same scopes; the old one expires",
        _rotate,
        tenant=True,
    )
    ro.add_argument("key", help="key id or prefix")
    ro.add_argument(
        "--grace-seconds",
        type=int,
        default=ROTATE_GRACE,
        help=f"how long the old key keeps working (default {ROTATE_GRACE}; 0 = revoke now)",
    )


def key_json(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "prefix": k.prefix,
        "name": k.name,
        "scopes": list(k.scopes),
        "sandbox": k.sandbox,
        "expiresAt": k.expires_at,
        "lastUsedAt": k.last_used_at,
        "createdAt": k.created_at,
    }


def default_cli_scopes(sandbox: bool) -> tuple[str, ...]:
    """The operator's key has every scope; a sandbox key only send and read (DESIGN §10.1)."""
    return SANDBOX_DEFAULT_SCOPES if sandbox else ALL_SCOPES


async def _find(s: Services, tenant_id: str, ref: str) -> ApiKey:
    for k in await s.keys.list_keys(tenant_id):
        if ref in (k.id, k.prefix):
            return k
    raise NotFound(f"No active API key {ref!r} for this tenant")


async def _create(s: Services, args: argparse.Namespace) -> int:
    tenant = await s.operators.tenant_by_slug(args.tenant)
    try:
        scopes = parse_scopes(
            args.scopes if args.scopes is not None else list(default_cli_scopes(args.sandbox))
        )
    except ValueError as exc:
        return fail([f"--scopes: {exc}"])
    expires = None
    if args.expires_days is not None:
        if args.expires_days <= 0:
            return fail(["--expires-days: must be a positive number of days"])
        expires = s.all.clock.now() + timedelta(days=args.expires_days)
    created = await s.keys.create(tenant.id, list(scopes), args.name, expires, args.sandbox)
    args.audit_target = created.record.id  # the audit entry's target (cli/audit.py)
    emit(
        args,
        {
            "id": created.record.id,
            "key": created.key,
            "tenant": tenant.slug,
            "scopes": list(scopes),
            "sandbox": args.sandbox,
        },
        f"key={created.key}\n(shown once; scopes {','.join(scopes)})",
    )
    return OK


async def _list(s: Services, args: argparse.Namespace) -> int:
    tenant = await s.operators.tenant_by_slug(args.tenant)
    keys = await s.keys.list_keys(tenant.id)
    rows = [["PREFIX", "NAME", "SCOPES", "EXPIRES", "LAST USED", "ID"]]
    rows += [
        [k.prefix, k.name or "-", ",".join(k.scopes), k.expires_at or "never",
         k.last_used_at or "never", k.id]
        for k in keys
    ]  # fmt: skip
    emit(args, {"data": [key_json(k) for k in keys]}, table(rows))
    return OK


async def _revoke(s: Services, args: argparse.Namespace) -> int:
    tenant = await s.operators.tenant_by_slug(args.tenant)
    key = await _find(s, tenant.id, args.key)
    await s.keys.revoke(tenant.id, key.id)
    emit(args, {"id": key.id, "prefix": key.prefix, "revoked": True},
         f"key {key.prefix} revoked")  # fmt: skip
    return OK


async def _rotate(s: Services, args: argparse.Namespace) -> int:
    tenant = await s.operators.tenant_by_slug(args.tenant)
    key = await _find(s, tenant.id, args.key)
    created = await s.keys.rotate(tenant.id, key.id, args.grace_seconds)
    until = "now" if args.grace_seconds <= 0 else f"in {args.grace_seconds} s"
    emit(
        args,
        {"id": created.record.id, "key": created.key, "replaced": key.id,
         "graceSeconds": max(0, args.grace_seconds)},
        f"key={created.key}\n(shown once; the old key {key.prefix} stops working {until})",
    )  # fmt: skip
    return OK
