"""The `iep` command (DESIGN §7): serve, check, and an operator's commands by group.

    serve, check            this package, serve.py
    tenant, domain          tenants.py      key          keys.py
    admin-user              users.py        queue, message, dlq   messages.py
    backup, restore, purge  operations.py

Every command takes `--config PATH` (default: $IEP_CONFIG, else the embedded defaults with
the data in ./data) and `IEP_SECTION__KEY` environment overrides (config.py). `--json`
prints one JSON document. Errors print one `error:` line per problem on stderr; exit codes
are in output.py.
"""

import argparse
import os

from iep_appliance import __version__
from iep_appliance.cli import keys, messages, operations, serve, store_copy, tenants, users
from iep_appliance.cli.output import EXIT_CODES, OK, fail, run
from iep_appliance.config import load
from iep_appliance.domain.errors import ConfigError

CONFIG_ENV = "IEP_CONFIG"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="iep",
        description="IEP appliance: email platform in one process",
        epilog=EXIT_CODES,
    )
    p.add_argument("--version", action="version", version=f"iep {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default=os.environ.get(CONFIG_ENV) or None,
        help=f"path to iep.toml (default: ${CONFIG_ENV}, else embedded defaults, data in ./data)",
    )
    common.add_argument("--json", action="store_true", help="print one JSON document")
    sub = p.add_subparsers(dest="command", required=True)
    serve.register(sub, common)
    check = sub.add_parser(
        "check", parents=[common], help="validate the config; list every problem"
    )
    check.set_defaults(run=None)
    for group in (tenants, keys, users, messages, operations, store_copy):
        group.register(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = load(args.config)
    except ConfigError as exc:
        return fail(exc.problems)
    if args.command == "serve":
        return serve.serve(serve.with_flags(cfg, args), args.config, args)
    if args.command == "check":
        print(f"{args.config or 'embedded defaults'}: OK")
        return OK
    return run(cfg, args, args.run)


__all__ = ["main"]
