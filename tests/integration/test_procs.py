"""free_port and write_config from the process helpers (the process itself is covered by e2e)."""

import socket
import tomllib
from pathlib import Path

import pytest

from tests.support.procs import dumps_toml, free_port, write_config


def test_free_port_can_be_bound_on_loopback() -> None:
    # Another xdist worker may take a port the moment it is free; one of three must bind.
    bound = []
    for _ in range(3):
        port = free_port()
        assert 1024 <= port <= 65535
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            bound.append(port)
            break
    assert bound


def test_write_config_writes_the_base_shape_for_the_port(tmp_path: Path) -> None:
    path = write_config(tmp_path, 8123)

    assert path == tmp_path / "iep.toml"
    assert tomllib.loads(path.read_text()) == {
        "server": {"host": "127.0.0.1", "port": 8123},
        "storage": {"path": "data/iep.db", "attachments_dir": "data/attachments"},
        "delivery": {
            "concurrency": 16,
            "retry_schedule": [60, 300, 900, 3600],
            "shutdown_grace_seconds": 30,
        },
        "providers": {"outbox": {"type": "outbox"}},
        "routing": {"default_provider": "outbox"},
    }


def test_write_config_merges_nested_overrides_and_none_deletes(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "cfg",
        9000,
        delivery={"retry_schedule": [1, 2], "shutdown_grace_seconds": None},
        providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": 2525}},
        routing={"default_provider": "relay", "fallback_provider": "outbox"},
        webhooks={"allow_private_networks": True, "retry_schedule": [0.5, 1]},
    )

    config = tomllib.loads(path.read_text())
    assert config["delivery"] == {"concurrency": 16, "retry_schedule": [1, 2]}
    assert config["providers"] == {
        "outbox": {"type": "outbox"},
        "relay": {"type": "smtp", "host": "127.0.0.1", "port": 2525},
    }
    assert config["routing"]["fallback_provider"] == "outbox"
    assert config["webhooks"] == {"allow_private_networks": True, "retry_schedule": [0.5, 1]}


@pytest.mark.parametrize(
    "value",
    [
        {"s": 'quote " back \\ tab \t nl \n del \x7f ctl \x01 é 😀'},
        {"n": -3, "f": 1e-9, "big": 1e100, "t": True, "no": False},
        {"empty": {}, "list": [], "mixed": [[1, 2], ["a"]], "inline": [{"a": 1}, {"b": "x"}]},
        {"dotted key": {"x.y": 1, "": "empty key"}},
        {"a": {"b": {"c": {"d": 1}}, "e": 2}},
    ],
)
def test_dumps_toml_round_trips_through_tomllib(value: dict) -> None:
    assert tomllib.loads(dumps_toml(value)) == value


def test_dumps_toml_refuses_values_toml_cannot_hold() -> None:
    with pytest.raises(TypeError, match="NoneType"):
        dumps_toml({"a": None})
