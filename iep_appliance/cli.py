"""The `iep` command: serve, check, tenant, key, admin-user (DESIGN §7).

Errors print one line per problem to stderr and exit 1. `--json` prints one JSON object.
"""

import argparse
import asyncio
import getpass
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from iep_appliance import __version__
from iep_appliance.clock import Clock
from iep_appliance.config import Config, load
from iep_appliance.domain.errors import ConfigError, IEPError
from iep_appliance.domain.keys import SANDBOX_DEFAULT_SCOPES, parse_scopes


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="iep", description="IEP appliance: email platform in one process"
    )
    p.add_argument("--version", action="version", version=f"iep {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--config", required=True, help="path to iep.toml")
        return sp

    with_config(sub.add_parser("serve", help="run the appliance"))
    with_config(sub.add_parser("check", help="validate the config; exit 1 on problems"))

    tenant = sub.add_parser("tenant", help="manage tenants").add_subparsers(
        dest="action", required=True
    )
    tc = with_config(tenant.add_parser("create", help="create a tenant"))
    tc.add_argument("--name", required=True)
    tc.add_argument("--slug", required=True)
    tc.add_argument("--domain", action="append", default=[], help="allowed sender domain")
    tc.add_argument("--json", action="store_true")

    key = sub.add_parser("key", help="manage API keys").add_subparsers(dest="action", required=True)
    kc = with_config(key.add_parser("create", help="create an API key (shown once)"))
    kc.add_argument("--tenant", required=True, help="tenant slug")
    kc.add_argument(
        "--scopes", default=None, help="default: send,read,admin (a sandbox key: send,read)"
    )
    kc.add_argument("--name", default="")
    kc.add_argument("--expires-days", type=int, default=None)
    kc.add_argument("--sandbox", action="store_true", help="a sandbox key (delivers to outbox)")
    kc.add_argument("--json", action="store_true")

    admin = sub.add_parser("admin-user", help="manage dashboard users").add_subparsers(
        dest="action", required=True
    )
    ac = with_config(admin.add_parser("create", help="create a dashboard user"))
    ac.add_argument("--email", required=True)
    ac.add_argument("--role", choices=["admin", "viewer"], default="admin")
    ac.add_argument("--json", action="store_true")

    # -- backup, restore, purge (issue 9)
    bk = with_config(sub.add_parser("backup", help="online backup of the store + attachments"))
    bk.add_argument("--to", required=True, metavar="FILE", help="archive to write (.tar.gz)")
    rs = with_config(sub.add_parser("restore", help="restore a backup into an empty data dir"))
    rs.add_argument("--from", required=True, dest="source", metavar="FILE", help="archive")
    pg = with_config(sub.add_parser("purge", help="purge data past its retention window"))
    pg.add_argument("--dry-run", action="store_true", help="show what would go; change nothing")
    pg.add_argument("--json", action="store_true")
    _domain_parser(sub, with_config)
    return p


def _fail(lines: list[str]) -> int:
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    return 1


def _emit(args: argparse.Namespace, obj: dict[str, Any], text: str) -> None:
    print(json.dumps(obj) if getattr(args, "json", False) else text)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = load(args.config)
    except ConfigError as exc:
        return _fail(exc.problems)
    if args.command == "check":
        print(f"{args.config}: OK")
        return 0
    if args.command == "serve":
        return serve(cfg, args.config)
    if args.command in ("backup", "restore", "purge"):
        return _operations(cfg, args)
    command: Callable[[Config, argparse.Namespace], Awaitable[int]] = {
        ("tenant", "create"): _tenant_create,
        ("key", "create"): _key_create,
        ("admin-user", "create"): _admin_create,
        ("domain", "add"): _domain_add,
    }[(args.command, args.action)]
    try:
        return asyncio.run(_with_store(cfg, args, command))
    except IEPError as exc:
        errors = getattr(exc, "errors", None)
        if errors:
            return _fail([f"{e.path}: {e.message}" for e in errors])
        return _fail([exc.detail])


async def _with_store(
    cfg: Config,
    args: argparse.Namespace,
    fn: Callable[[Config, argparse.Namespace], Awaitable[int]],
) -> int:
    from iep_appliance.runtime import Runtime

    rt = Runtime(cfg, deliver=False)
    await rt.store.open()
    try:
        args.runtime = rt
        return await fn(cfg, args)
    finally:
        await rt.store.close()


async def _tenant_create(cfg: Config, args: argparse.Namespace) -> int:
    from iep_appliance.services.tenants import create_tenant

    tenant = await create_tenant(args.runtime.store, args.slug, args.name, args.domain)
    _emit(
        args, {"id": tenant.id, "slug": tenant.slug}, f"tenant {tenant.slug} created: {tenant.id}"
    )
    return 0


def default_cli_scopes(sandbox: bool) -> tuple[str, ...]:
    """The operator's key has every scope; a sandbox key only send and read (DESIGN §10.1)."""
    return SANDBOX_DEFAULT_SCOPES if sandbox else ("send", "read", "admin")


async def _key_create(cfg: Config, args: argparse.Namespace) -> int:
    rt = args.runtime
    tenant = await rt.store.get_tenant_by_slug(args.tenant)
    if tenant is None:
        return _fail([f"unknown tenant slug {args.tenant!r}"])
    try:
        scopes = parse_scopes(
            args.scopes if args.scopes is not None else list(default_cli_scopes(args.sandbox))
        )
    except ValueError as exc:
        return _fail([f"--scopes: {exc}"])
    expires = None
    if args.expires_days is not None:
        if args.expires_days <= 0:
            return _fail(["--expires-days: must be a positive number of days"])
        expires = Clock().now() + timedelta(days=args.expires_days)
    created = await rt.keys.create(tenant.id, list(scopes), args.name, expires, args.sandbox)
    _emit(
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
    return 0


async def _admin_create(cfg: Config, args: argparse.Namespace) -> int:
    from iep_appliance.services.tenants import create_admin_user

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    user_id = await create_admin_user(args.runtime.store, args.email, password, args.role)
    _emit(args, {"id": user_id, "email": args.email.lower()}, f"admin user {args.email} created")
    return 0


def serve(cfg: Config, config_path: str | None = None) -> int:
    """Run the appliance until SIGTERM/SIGINT; exit 0 after a graceful stop.

    SIGHUP re-reads `config_path` and applies what can change while running (reload.py).
    """
    import uvloop

    return uvloop.run(_serve(cfg, config_path))


async def _serve(cfg: Config, config_path: str | None = None) -> int:
    import contextlib

    import uvicorn

    from iep_appliance import logs
    from iep_appliance.app import build_app
    from iep_appliance.runtime import Runtime

    logs.setup(cfg.logging.level)
    loop = asyncio.get_running_loop()
    # SIGHUP's default action ends the process; until the reloader takes it over below (after
    # migrations and first start), one is ignored.
    loop.add_signal_handler(signal.SIGHUP, lambda: None)
    rt = Runtime(cfg)
    await rt.start()
    if rt.first_start is not None:
        print("IEP first start: save these credentials (also in initial-credentials.txt)")
        print(rt.first_start.lines(), end="", flush=True)
    app = build_app(rt)

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # type: ignore[no-untyped-def]
            yield  # signals are handled below, so a SIGTERM ends in exit code 0

    server = Server(
        uvicorn.Config(
            app,
            host=cfg.server.host,
            port=cfg.server.port,
            http="httptools",
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=5,
            backlog=2048,
        )
    )

    def on_signal() -> None:
        rt.ready = False
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    if config_path is not None:
        from iep_appliance.reload import Reloader

        Reloader(rt, config_path).install(loop)
    try:
        await server.serve()
    finally:
        await rt.stop()
    return 0 if server.started else 1


# ---- backup, restore, purge (issue 9) ----------------------------------------------------------


def _operations(cfg: Config, args: argparse.Namespace) -> int:
    """Progress goes to stderr, the result to stdout; errors exit 1 naming the problem."""
    try:
        if args.command == "restore":
            return asyncio.run(_restore(cfg, args))
        fn = _backup if args.command == "backup" else _purge
        return asyncio.run(_with_store(cfg, args, fn))
    except IEPError as exc:
        errors = getattr(exc, "errors", None)
        if errors:
            return _fail([f"{e.path}: {e.message}" for e in errors])
        return _fail([exc.detail])


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def _backup(cfg: Config, args: argparse.Namespace) -> int:
    from iep_appliance.services.backups import backup

    rt = args.runtime
    manifest = await backup(
        rt.store, cfg.storage.attachments_dir, args.to, __version__, rt.clock, _progress
    )
    counts = ", ".join(f"{k} {v}" for k, v in manifest.counts.items())
    print(f"backup written to {args.to}: {counts}, attachment files {manifest.attachment_files}")
    return 0


async def _restore(cfg: Config, args: argparse.Namespace) -> int:
    from iep_appliance.runtime import Runtime
    from iep_appliance.services.backups import restore

    rt = Runtime(cfg, deliver=False)  # never opened: restore must not create the database
    manifest = await restore(
        rt.store, cfg.storage.path, cfg.storage.attachments_dir, args.source, _progress
    )
    print(
        f"restored backup of {manifest.created_at} (iep {manifest.version}, schema "
        f"{manifest.schema_version}) into {cfg.storage.path}"
    )
    return 0


async def _purge(cfg: Config, args: argparse.Namespace) -> int:
    retention = args.runtime.retention
    if args.dry_run:
        plan = await retention.plan()
        if args.json:
            print(json.dumps({"dryRun": True, **_plan_json(plan)}))
            return 0
        print(
            f"dry run: messages finished before {plan.message_cutoff or 'never (kept forever)'}, "
            f"attachments before {plan.attachment_cutoff or 'never (kept forever)'} would go:"
        )
        for kind, n in plan.counts.items():
            print(f"  {kind:<20} {n:>10}")
        if plan.oldest:
            print(f"  messages created from {plan.oldest} to {plan.newest}")
        return 0
    last = [0.0]

    def progress(totals: dict[str, int]) -> None:
        now = args.runtime.clock.monotonic()
        if now - last[0] >= 1.0:
            last[0] = now
            done = ", ".join(f"{k} {v}" for k, v in totals.items() if v)
            _progress(f"purging: {done or 'nothing yet'}")

    counts = await retention.purge(progress=progress)
    if args.json:
        print(json.dumps({"dryRun": False, "counts": counts}))
    else:
        print("purged: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    return 0


def _plan_json(plan: Any) -> dict[str, Any]:
    return {
        "counts": plan.counts,
        "messageCutoff": plan.message_cutoff,
        "attachmentCutoff": plan.attachment_cutoff,
        "oldest": plan.oldest,
        "newest": plan.newest,
    }


# ---- iep domain add (issue 16) ---------------------------------------------------------------


def _domain_parser(sub: Any, with_config: Callable[[Any], argparse.ArgumentParser]) -> None:
    domain = sub.add_parser("domain", help="manage sender domains").add_subparsers(
        dest="action", required=True
    )
    da = with_config(domain.add_parser("add", help="add a sender domain and make its DKIM key"))
    da.add_argument("--tenant", required=True, help="tenant slug")
    da.add_argument("domain", metavar="DOMAIN")
    da.add_argument(
        "--verified", action="store_true", help="usable at once (else pending until DNS verifies)"
    )
    da.add_argument("--dkim", choices=["rsa", "ed25519"], default=None, help="DKIM key type")
    da.add_argument("--json", action="store_true")


async def _domain_add(cfg: Config, args: argparse.Namespace) -> int:
    rt = args.runtime
    tenant = await rt.store.get_tenant_by_slug(args.tenant)
    if tenant is None:
        return _fail([f"--tenant: no tenant {args.tenant!r}"])
    if args.verified:
        await rt.domains.add(tenant.id, args.domain, args.dkim)
    else:
        await rt.domains.request(tenant.id, args.domain, args.dkim)
    detail = await rt.domain_checks.detail(tenant.id, args.domain)
    records = [
        {"type": r.type, "name": r.name, "value": r.value, "purpose": r.purpose}
        for r in detail.records
    ]
    obj = {
        "domain": detail.domain,
        "status": detail.status,
        "dkim": {
            "selector": detail.dkim.selector,
            "algorithm": detail.dkim.algorithm,
            "publicKey": detail.dkim.public_key,
        }
        if detail.dkim
        else None,
        "records": records,
    }
    lines = [f"domain {detail.domain} added ({detail.status}); publish these DNS records:"]
    lines += [f"  {r['type']:<4} {r['name']}  {r['value']}" for r in records]
    _emit(args, obj, "\n".join(lines))
    return 0
