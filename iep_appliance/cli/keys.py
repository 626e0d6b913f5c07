"""`iep key create|list|revoke|rotate`: a tenant's API keys. A key is named by its id or its
8-character prefix (the part after `iep_` that `key list` shows)."""

import argparse
from datetime import timedelta
from typing import Any

from iep_appliance.cli.context import Services, with_services
from iep_appliance.cli.output import OK, emit, fail, table
from iep_appliance.domain.errors import NotFound
from iep_appliance.domain.models import ApiKey
from iep_appliance.domain.scopes import ALL_SCOPES, SANDBOX_DEFAULT_SCOPES, parse_scopes
from iep_appliance.services.keys import ROTATE_GRACE_SECONDS as ROTATE_GRACE


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser("key", help="API keys: create, list, revoke, rotate")
    actions = group.add_subparsers(dest="action", required=True)
    c = actions.add_parser("create", parents=[common], help="create an API key (shown once)")
    c.add_argument("--tenant", required=True, help="tenant slug")
    c.add_argument(
        "--scopes", default=None, help="default: send,read,admin (a sandbox key: send,read)"
    )
    c.add_argument("--name", default="")
    c.add_argument("--expires-days", type=int, default=None)
    c.add_argument("--sandbox", action="store_true", help="a sandbox key (delivers to outbox)")
    c.set_defaults(run=with_services(_create))
    ls = actions.add_parser("list", parents=[common], help="a tenant's active keys")
    ls.add_argument("--tenant", required=True, help="tenant slug")
    ls.set_defaults(run=with_services(_list))
    rv = actions.add_parser("revoke", parents=[common], help="revoke a key at once")
    rv.add_argument("--tenant", required=True, help="tenant slug")
    rv.add_argument("key", help="key id or prefix")
    rv.set_defaults(run=with_services(_revoke))
    ro = actions.add_parser(
        "rotate", parents=[common], help="a new key with the same scopes; the old one expires"
    )
    ro.add_argument("--tenant", required=True, help="tenant slug")
    ro.add_argument("key", help="key id or prefix")
    ro.add_argument(
        "--grace-seconds",
        type=int,
        default=ROTATE_GRACE,
        help=f"how long the old key keeps working (default {ROTATE_GRACE}; 0 = revoke now)",
    )
    ro.set_defaults(run=with_services(_rotate))


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
