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
from iep_appliance.domain.keys import parse_scopes


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
    kc.add_argument("--scopes", default="send,read,admin")
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
        return serve(cfg)
    command: Callable[[Config, argparse.Namespace], Awaitable[int]] = {
        ("tenant", "create"): _tenant_create,
        ("key", "create"): _key_create,
        ("admin-user", "create"): _admin_create,
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


async def _key_create(cfg: Config, args: argparse.Namespace) -> int:
    rt = args.runtime
    tenant = await rt.store.get_tenant_by_slug(args.tenant)
    if tenant is None:
        return _fail([f"unknown tenant slug {args.tenant!r}"])
    try:
        scopes = parse_scopes(args.scopes)
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


def serve(cfg: Config) -> int:
    """Run the appliance until SIGTERM/SIGINT; exit 0 after a graceful stop."""
    import uvloop

    return uvloop.run(_serve(cfg))


async def _serve(cfg: Config) -> int:
    import contextlib

    import uvicorn

    from iep_appliance import logs
    from iep_appliance.app import build_app
    from iep_appliance.runtime import Runtime

    logs.setup(cfg.logging.level)
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
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        rt.ready = False
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await server.serve()
    finally:
        await rt.stop()
    return 0 if server.started else 1
