"""The services an operator's command works through, over the store of the configured data
directory. A command runs next to a running server (SQLite WAL; writes take their turn):
a key revoked or a tenant deactivated here is refused by the server within a second: the
change is noted in the store's change feed, which every server process polls (issue 19)."""

import argparse
from collections.abc import Awaitable, Callable

from iep_appliance.config import Config
from iep_appliance.runtime import Runtime
from iep_appliance.services.dashboard import DashboardService
from iep_appliance.services.dashboard_actions import DashboardActions
from iep_appliance.services.operators import OperatorService


class Services:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.keys = rt.keys
        self.domains = rt.domains
        self.queues = rt.queues
        self.operators = OperatorService(rt.store, rt.keys, rt.suppressions, rt.tenant_changed)
        self.dashboard = DashboardService(rt.store, rt.clock)
        self.actions = DashboardActions(rt.store, rt.messages, rt.blobs)


Action = Callable[[Services, argparse.Namespace], Awaitable[int]]


def with_services(action: Action) -> Callable[[Config, argparse.Namespace], Awaitable[int]]:
    """An async command over an opened store (migrated; no delivery, no first start)."""

    async def command(cfg: Config, args: argparse.Namespace) -> int:
        rt = Runtime(cfg, deliver=False)
        await rt.store.open()
        try:
            args.runtime = rt
            return await action(Services(rt), args)
        finally:
            await rt.changes.flush()  # the change feed's notes, before the store closes
            await rt.store.close()

    return command
