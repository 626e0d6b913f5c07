"""`iep tenant create|list|show|deactivate|activate` and `iep domain add|list|remove`."""

import argparse
from typing import Any

from iep_appliance.cli.context import Services, add_command, add_group
from iep_appliance.cli.output import OK, emit, table
from iep_appliance.domain.models import Tenant
from iep_appliance.services.tenants import create_tenant


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    actions = add_group(sub, "tenant", "tenants: create, list, show, (de)activate")
    c = add_command(actions, common, "create", "create a tenant", _create)
    c.add_argument("--name", required=True)
    c.add_argument("--slug", required=True)
    c.add_argument("--domain", action="append", default=[], help="allowed sender domain")
    add_command(actions, common, "list", "every tenant", _list)
    for name, fn, text in (
        ("show", _show, "one tenant: settings, sender domains, keys"),
        ("deactivate", _deactivate, "refuse the tenant's keys and sends"),
        ("activate", _activate, "accept the tenant's keys and sends again"),
    ):
        add_command(actions, common, name, text, fn).add_argument("slug", help="tenant slug")

    actions = add_group(sub, "domain", "a tenant's sender domains: add, list, remove")
    da = add_command(
        actions, common, "add", "add a sender domain, make its DKIM key", _domain_add, tenant=True
    )
    da.add_argument("domain", metavar="DOMAIN")
    da.add_argument(
        "--verified", action="store_true", help="usable at once (else pending until DNS verifies)"
    )
    da.add_argument("--dkim", choices=["rsa", "ed25519"], default=None, help="DKIM key type")
    add_command(actions, common, "list", "a tenant's sender domains", _domains, tenant=True)
    rm = add_command(
        actions, common, "remove", "stop allowing a sender domain", _domain_remove, tenant=True
    )
    rm.add_argument("domain")


def tenant_json(t: Tenant) -> dict[str, Any]:
    return {
        "id": t.id,
        "slug": t.slug,
        "name": t.name,
        "active": t.active,
        "sandbox": t.settings.sandbox,
        "createdAt": t.created_at,
    }


async def _create(s: Services, args: argparse.Namespace) -> int:
    tenant = await create_tenant(s.all.store, args.slug, args.name, args.domain)
    emit(args, tenant_json(tenant), f"tenant {tenant.slug} created: {tenant.id}")
    return OK


async def _list(s: Services, args: argparse.Namespace) -> int:
    tenants = await s.operators.tenants()
    rows = [["SLUG", "NAME", "ACTIVE", "ID"]]
    rows += [[t.slug, t.name, "yes" if t.active else "no", t.id] for t in tenants]
    emit(args, {"data": [tenant_json(t) for t in tenants]}, table(rows))
    return OK


async def _show(s: Services, args: argparse.Namespace) -> int:
    t = await s.operators.tenant_by_slug(args.slug)
    domains = await s.domains.list_all(t.id)
    keys = await s.keys.list_keys(t.id)
    obj = {
        **tenant_json(t),
        "domains": [d.domain for d in domains],
        "keys": [{"id": k.id, "prefix": k.prefix, "name": k.name} for k in keys],
    }
    text = (
        f"tenant {t.slug} ({t.name})\n  id       {t.id}\n"
        f"  active   {'yes' if t.active else 'no'}\n"
        f"  sandbox  {'yes' if t.settings.sandbox else 'no'}\n"
        f"  created  {t.created_at}\n"
        f"  domains  {', '.join(d.domain for d in domains) or '(none)'}\n"
        f"  keys     {len(keys)} active"
    )
    emit(args, obj, text)
    return OK


async def _set_active(s: Services, args: argparse.Namespace, active: bool) -> int:
    t = await s.operators.tenant_by_slug(args.slug)
    updated = await s.operators.set_active(t.id, active)
    word = "activated" if active else "deactivated"
    emit(args, tenant_json(updated), f"tenant {updated.slug} {word}")
    return OK


async def _deactivate(s: Services, args: argparse.Namespace) -> int:
    return await _set_active(s, args, False)


async def _activate(s: Services, args: argparse.Namespace) -> int:
    return await _set_active(s, args, True)


async def _domains(s: Services, args: argparse.Namespace) -> int:
    t = await s.operators.tenant_by_slug(args.tenant)
    domains = await s.domains.list_all(t.id)
    rows = [["DOMAIN", "STATUS", "ADDED"]]
    rows += [[d.domain, d.status, d.created_at] for d in domains]
    data = [
        {
            "domain": d.domain,
            "status": d.status,
            "verified": d.status == "verified",
            "createdAt": d.created_at,
        }
        for d in domains
    ]
    emit(args, {"data": data}, table(rows))
    return OK


async def _domain_remove(s: Services, args: argparse.Namespace) -> int:
    t = await s.operators.tenant_by_slug(args.tenant)
    await s.domains.remove(t.id, args.domain)
    emit(args, {"tenant": t.slug, "domain": args.domain, "removed": True},
         f"domain {args.domain} removed from {t.slug}")  # fmt: skip
    return OK


async def _domain_add(s: Services, args: argparse.Namespace) -> int:
    t = await s.operators.tenant_by_slug(args.tenant)
    if args.verified:
        await s.domains.add(t.id, args.domain, args.dkim)
    else:
        await s.domains.request(t.id, args.domain, args.dkim)
    detail = await s.all.domain_checks.detail(t.id, args.domain)
    records = [
        {"type": r.type, "name": r.name, "value": r.value, "purpose": r.purpose}
        for r in detail.records
    ]
    dkim = detail.dkim
    obj = {
        "domain": detail.domain,
        "status": detail.status,
        "dkim": {
            "selector": dkim.selector,
            "algorithm": dkim.algorithm,
            "publicKey": dkim.public_key,
        }
        if dkim
        else None,
        "records": records,
    }
    lines = [f"domain {detail.domain} added ({detail.status}); publish these DNS records:"]
    lines += [f"  {r['type']:<4} {r['name']}  {r['value']}" for r in records]
    emit(args, obj, "\n".join(lines))
    return OK
