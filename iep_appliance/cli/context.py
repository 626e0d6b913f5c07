"""The services an operator's command works through, over the store of the configured data
directory. A command runs next to a running server (SQLite WAL; writes take their turn):
a key revoked or a tenant deactivated here is refused by the server within a second: the
change is noted in the store's change feed, which every server process polls."""

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

from iep_appliance import wiring
from iep_appliance.cli.audit_entry import record_command
from iep_appliance.config import Config


class Services:
    """The few services commands use by name, plus every part (`all`)."""

    def __init__(self, services: wiring.Services) -> None:
        self.all = services
        self.keys = services.keys
        self.domains = services.domains
        self.queues = services.queues
        self.operators = services.operators
        self.dashboard = services.dashboard
        self.actions = services.dashboard_actions


Action = Callable[[Services, argparse.Namespace], Awaitable[int]]


def with_services(action: Action) -> Callable[[Config, argparse.Namespace], Awaitable[int]]:
    """An async command over an opened store (migrated; no delivery, no first start)."""

    async def command(cfg: Config, args: argparse.Namespace) -> int:
        services = wiring.wire(cfg, deliver=False)
        await services.store.open()
        try:
            result = await action(Services(services), args)
            if result == 0:  # the audit entry of a command that changed something
                await record_command(services, args)
            return result
        finally:
            await services.changes.flush()  # the change feed's notes, before the store closes
            await services.store.close()

    return command


def add_group(sub: Any, name: str, text: str) -> Any:
    """The command group `name` (help `text`): the actions its subcommands are added to."""
    group = sub.add_parser(name, help=text)
    return group.add_subparsers(dest="action", required=True)


def add_command(
    actions: Any,
    common: argparse.ArgumentParser,
    name: str,
    text: str,
    action: Action,
    *,
    tenant: bool = False,
) -> argparse.ArgumentParser:
    """The subcommand `name` (help `text`) that runs `action` over the store; with `tenant`,
    its first option is the required `--tenant` slug. Returned for its further arguments."""
    parser: argparse.ArgumentParser = actions.add_parser(name, parents=[common], help=text)
    if tenant:
        parser.add_argument("--tenant", required=True, help="tenant slug")
    parser.set_defaults(run=with_services(action))
    return parser
