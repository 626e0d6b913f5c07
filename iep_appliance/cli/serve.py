"""`iep serve`: run the appliance until SIGTERM/SIGINT; exit 0 after a graceful stop.

Once the socket is bound it prints one line with the URLs of the API, the dashboard and the
docs; on a first start, before it, the credentials and the file they were written to.
SIGHUP re-reads the config file (reload.py).
"""

import argparse
import asyncio
import os
import signal
from typing import Any

import msgspec

from iep_appliance.config import Config


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    sp = sub.add_parser("serve", parents=[common], help="run the appliance")
    sp.add_argument("--host", default=None, help="address to bind (overrides server.host)")
    sp.add_argument("--port", type=int, default=None, help="port to bind (overrides server.port)")
    sp.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (overrides server.workers; 0 = one per core)",
    )
    sp.set_defaults(run=None)


def with_flags(cfg: Config, args: argparse.Namespace) -> Config:
    """`--host`/`--port` win over the file and the environment."""
    changes: dict[str, Any] = {}
    if args.host is not None:
        changes["host"] = args.host
    if args.port is not None:
        changes["port"] = args.port
    if getattr(args, "workers", None) is not None:
        if args.workers < 0:
            raise SystemExit("iep serve: --workers must be 0 (one per core) or more")
        changes["workers"] = args.workers
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
    """Run until SIGTERM/SIGINT; `args` carries --host/--port, kept over a SIGHUP reload.
    With more than one worker this process is the supervisor (worker_supervisor.py)."""
    import uvloop

    from iep_appliance.worker_role import WorkerRole

    role = WorkerRole.from_env()
    if role is None:
        from iep_appliance.worker_supervisor import worker_count

        count = worker_count(cfg.server.workers)
        if count > 1:
            return _supervise(cfg, config_path, args, count)
    else:
        from iep_appliance.worker_supervisor import die_with_supervisor

        die_with_supervisor()
    return uvloop.run(_serve(cfg, config_path, args, role))


def _supervise(
    cfg: Config, config_path: str | None, args: argparse.Namespace | None, count: int
) -> int:
    from iep_appliance import logs
    from iep_appliance.worker_supervisor import WorkerSupervisor

    logs.setup(cfg.logging.level)
    argv = ["serve"]
    if config_path is not None:
        argv += ["--config", config_path]
    if args is not None and args.host is not None:
        argv += ["--host", args.host]
    if args is not None and args.port is not None:  # else the file's, as a reload reads it
        argv += ["--port", str(args.port)]
    host = cfg.server.host
    supervisor = WorkerSupervisor(cfg, count, argv)
    return asyncio.run(supervisor.run(lambda port: print(urls(host, port), flush=True)))


async def _serve(
    cfg: Config,
    config_path: str | None = None,
    args: argparse.Namespace | None = None,
    role: Any = None,
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
    # A stop signal before the listener's handler is in place (during start-up) is kept and
    # honoured once it is: the process starts, then drains and stops at once (exit 0), as it
    # would after a signal a moment later, never killed by the default action mid-start.
    stop_signals = (signal.SIGTERM,) if role is not None else (signal.SIGTERM, signal.SIGINT)
    early_stop: list[int] = []

    def stop_early(sig: int) -> None:  # a second one: stop now, as the default action does
        if early_stop:
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        early_stop.append(sig)

    for sig in stop_signals:
        loop.add_signal_handler(sig, stop_early, sig)
    if role is not None:  # the other workers wait for worker 0's first start
        from iep_appliance.worker_supervisor import wait_for_gate

        await asyncio.to_thread(wait_for_gate)
    rt = Runtime(cfg, role=role)
    await rt.start()
    if rt.first_start is not None:
        print(f"IEP first start: save these credentials (also written to {rt.first_start.path})")
        print(rt.first_start.lines(), end="", flush=True)
    host = cfg.server.host
    sock = None
    announce: Any = lambda port: print(urls(host, port), flush=True)  # noqa: E731
    if role is not None:  # a worker: the supervisor's socket; it prints the line
        from iep_appliance.worker_supervisor import listening_socket, tell_ready

        sock = listening_socket()
        announce = lambda port: tell_ready()  # noqa: E731
    http = HttpServer(
        cfg.server, rt.services.clock, build_app(rt), rt.begin_drain, announce=announce
    )
    for sig in stop_signals:
        loop.add_signal_handler(sig, http.stop)
    for _ in early_stop:  # each signal that came during start-up, as if it came now
        http.stop()
    if config_path is not None:
        from iep_appliance.reload import Reloader

        adjust = (lambda new: with_flags(new, args)) if args is not None else None
        Reloader(rt.services, config_path, adjust).install(loop)
    try:
        started = await http.run(sock)
    finally:
        await rt.stop()
    return 0 if started else 1
