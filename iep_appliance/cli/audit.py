"""`iep audit export`: the audit log as JSON lines.

The audit entries of the commands themselves: cli/audit_entry.py.
`iep audit export [--tenant SLUG] [--from ISO] [--to ISO]` prints one JSON object per line
(newest first; every tenant without --tenant) and, on stderr, a progress line every
`PROGRESS_EVERY` entries and a total at the end.
"""

import argparse
import json
import sys
from typing import Any

from iep_appliance.cli.context import Services, add_command, add_group
from iep_appliance.cli.output import OK
from iep_appliance.domain.audit import parse_query, to_json
from iep_appliance.domain.errors import NotFound

PROGRESS_EVERY = 1000


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    actions = add_group(sub, "audit", "the audit log: export")
    ex = add_command(
        actions, common, "export", "the audit log as JSON lines (newest first) on stdout", _export
    )
    ex.add_argument("--tenant", default=None, help="tenant slug (default: every tenant)")
    ex.add_argument("--from", dest="since", default=None, help="ISO 8601, inclusive")
    ex.add_argument("--to", dest="until", default=None, help="ISO 8601, exclusive")


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
