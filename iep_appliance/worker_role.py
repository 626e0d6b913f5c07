"""Which worker this process is (DESIGN §10.6): `index` of `count`.

`iep serve --workers N` starts N processes of the same executable (worker_supervisor.py) and tells
each its role in the environment (`IEP_WORKER=index/count`). A process started without it is
the only one (`WorkerRole()`): it runs the singletons and owns every lease, as before.
Worker 0 runs the singletons (cron ticks, retention purge, lease sweeps, DKIM/domain checks,
reputation enforcement, inbound purge); a restarted worker 0 takes them back.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass

ROLE_ENV = "IEP_WORKER"


@dataclass(frozen=True, slots=True)
class WorkerRole:
    index: int = 0
    count: int = 1
    node: str = ""  # this node's name ([server] node_id, default the hostname)
    cluster: bool = False  # other nodes may share the store (PostgreSQL)

    @property
    def runs_singletons(self) -> bool:
        return self.index == 0

    @property
    def shared(self) -> bool:
        """Other processes serve from the same store (rate limits through it, change feed)."""
        return self.count > 1

    @property
    def node_id(self) -> str | None:
        """The lease owner this process claims as: on a cluster the node's name (with
        workers "NODE/wI"); else "wI" with workers, None for the only process."""
        worker = f"w{self.index}"
        if self.cluster:
            return f"{self.node}/{worker}" if self.count > 1 else self.node
        return worker if self.shared else None

    def owners(self) -> list[str]:
        """Every lease owner of this node's processes."""
        if self.cluster:
            return [f"{self.node}/w{i}" if self.count > 1 else self.node for i in range(self.count)]
        return [f"w{i}" for i in range(self.count)]

    def env(self) -> dict[str, str]:
        return {ROLE_ENV: f"{self.index}/{self.count}"}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "WorkerRole | None":
        """The role the supervisor gave this process, or None when not a worker."""
        value = (os.environ if env is None else env).get(ROLE_ENV)
        if not value:
            return None
        index, _, count = value.partition("/")
        role = cls(int(index), int(count))
        if not 0 <= role.index < role.count:
            raise ValueError(f"{ROLE_ENV}={value!r}: index must be below count")
        return role
