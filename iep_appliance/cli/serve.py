"""`iep serve`: run the appliance until SIGTERM/SIGINT; exit 0 after a graceful stop.

Once the socket is bound it prints one line with the URLs of the API, the dashboard and the
docs; on a first start, before it, the credentials and the file they were written to.
SIGHUP re-reads the config file (reload.py).
"""

import argparse
import asyncio
import signal
from typing import Any

import msgspec

from iep_appliance.config import Config


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    sp = sub.add_parser("serve", parents=[common], help="run the appliance")
    sp.add_argument("--host", default=None, help="address to bind (overrides server.host)")
    sp.add_argument("--port", type=int, default=None, help="port to bind (overrides server.port)")
    sp.set_defaults(run=None)


def with_flags(cfg: Config, args: argparse.Namespace) -> Config:
    """`--host`/`--port` win over the file and the environment."""
    changes: dict[str, Any] = {}
    if args.host is not None:
        changes["host"] = args.host
    if args.port is not None:
        changes["port"] = args.port
    if not changes:
        return cfg
    return msgspec.structs.replace(cfg, server=msgspec.structs.replace(cfg.server, **changes))


def urls(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    return (
        f"IEP listening on {base} · API {base}/v1 · dashboard {base}/admin/ · "
        f"docs {base}/schema/swagger"
    )


def serve(
    cfg: Config, config_path: str | None = None, args: argparse.Namespace | None = None
) -> int:
    """Run until SIGTERM/SIGINT; `args` carries --host/--port, kept over a SIGHUP reload."""
    import uvloop

    return uvloop.run(_serve(cfg, config_path, args))


async def _serve(
    cfg: Config, config_path: str | None = None, args: argparse.Namespace | None = None
) -> int:
    from iep_appliance import logs
    from iep_appliance.app import build_app
    from iep_appliance.http_server import HttpServer
    from iep_appliance.runtime import Runtime

    logs.setup(cfg.logging.level)
    loop = asyncio.get_running_loop()
    # SIGHUP's default action ends the process; until the reloader takes it over below (after
    # migrations and first start), one is ignored.
    loop.add_signal_handler(signal.SIGHUP, lambda: None)
    rt = Runtime(cfg)
    await rt.start()
    if rt.first_start is not None:
        print(f"IEP first start: save these credentials (also written to {rt.first_start.path})")
        print(rt.first_start.lines(), end="", flush=True)
    host = cfg.server.host
    http = HttpServer(
        cfg.server,
        rt.services.clock,
        build_app(rt),
        rt.begin_drain,
        announce=lambda port: print(urls(host, port), flush=True),
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, http.stop)
    if config_path is not None:
        from iep_appliance.reload import Reloader

        adjust = (lambda new: with_flags(new, args)) if args is not None else None
        Reloader(rt.services, config_path, adjust).install(loop)
    try:
        started = await http.run()
    finally:
        await rt.stop()
    return 0 if started else 1
