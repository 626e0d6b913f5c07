"""Runtime start and stop over real parts: a step that fails late in `start()` (the inbound
listener's port is taken) closes every part started before it, in reverse — the SMTP
submission listener no longer accepts, the sender and scheduler tasks are gone, the store is
closed — and the error is the one the failed step raised. Stop closes the same way."""

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from iep_appliance.config import Config, parse
from iep_appliance.runtime import Runtime
from tests.support.procs import free_port

ENGINE_TASKS = ("sender-", "scheduler")

# Ports come from below the ephemeral range: a connect to a closed port inside it can be
# answered by the kernel's TCP self-connect (source port == destination port), or the port
# handed to another xdist worker's port-0 server, and the "is it closed" checks would flake.


@contextmanager
def port_taken() -> Iterator[int]:
    """A port with a listener on it that is not ours."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def config(tmp_path: Path, submission_port: int, inbound_port: int) -> Config:
    return parse(
        {
            "server": {"port": 0},
            "storage": {"path": "data/iep.db", "attachments_dir": "data/attachments"},
            "delivery": {"shutdown_grace_seconds": 2},
            "providers": {"outbox": {"type": "outbox"}},
            "routing": {"default_provider": "outbox"},
            "submission": {"enabled": True, "host": "127.0.0.1", "port": submission_port},
            "inbound": {"enabled": True, "host": "127.0.0.1", "port": inbound_port},
            "logging": {"access_log": False},
        },
        tmp_path,
    )


async def accepts(port: int) -> bool:
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


def engine_tasks() -> list[str]:
    names = [t.get_name() for t in asyncio.all_tasks() if not t.done()]
    return [n for n in names if n.startswith(ENGINE_TASKS)]


async def test_a_failure_in_a_late_start_step_closes_the_parts_started_before_it(
    tmp_path: Path,
) -> None:
    submission_port = free_port()
    with port_taken() as inbound_port:
        rt = Runtime(config(tmp_path, submission_port, inbound_port))

        with pytest.raises(OSError):
            await rt.start()

        assert not await accepts(submission_port)  # it had started: the listener is closed
        assert engine_tasks() == []  # the senders and the scheduler were stopped
        with pytest.raises(RuntimeError, match="store is closed"):
            await rt.services.store.ping()
        assert rt.ready is False


async def test_stop_closes_every_started_part(tmp_path: Path) -> None:
    submission_port, inbound_port = free_port(), free_port()
    rt = Runtime(config(tmp_path, submission_port, inbound_port))
    await rt.start()
    assert rt.ready
    assert await accepts(submission_port) and await accepts(inbound_port)
    assert engine_tasks() != []

    await rt.stop()

    assert not await accepts(submission_port)
    assert not await accepts(inbound_port)
    assert engine_tasks() == []
    with pytest.raises(RuntimeError, match="store is closed"):
        await rt.services.store.ping()
    assert (await rt.services.health.readiness())["status"] == "not_ready"


async def test_a_runtime_that_failed_to_start_can_be_started_again_once_the_port_is_free(
    tmp_path: Path,
) -> None:
    submission_port = free_port()
    with port_taken() as inbound_port, pytest.raises(OSError):
        await Runtime(config(tmp_path, submission_port, inbound_port)).start()
    rt = Runtime(config(tmp_path, submission_port, inbound_port))  # the same data directory
    await rt.start()
    try:
        assert await accepts(inbound_port)
        assert (await rt.services.health.readiness())["status"] == "ready"
    finally:
        await rt.stop()
