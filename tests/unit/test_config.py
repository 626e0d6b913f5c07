"""config.load: TOML into frozen structs; every bad key named; paths and secrets resolved."""

from pathlib import Path

import msgspec
import pytest

from iep_appliance import cli
from iep_appliance.config import Config, load
from iep_appliance.domain.errors import ConfigError

RELAY = """
[providers.outbox]
type = "outbox"

[providers.relay]
type = "smtp"
host = "127.0.0.1"
port = 2525
username = "mailer"
password_env = "IEP_TEST_RELAY_PASSWORD"
"""


def write(tmp_path: Path, text: str, name: str = "iep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path, environ=environ or {})
    return caught.value.problems


def test_empty_file_gives_the_embedded_defaults(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, ""), environ={})

    assert cfg.server.port == 8080
    assert cfg.storage.synchronous == "FULL"
    assert list(cfg.providers) == ["outbox"]
    assert cfg.routing.default_provider == "outbox"
    assert cfg.delivery.retry_schedule == [60, 300, 900, 3600]


def test_config_is_frozen(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, ""), environ={})

    with pytest.raises(AttributeError):
        cfg.server.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[server]\nbogus = 1\n", "server.bogus: unknown key"),
        ("bogus = 1\n", "bogus: unknown key"),
        ("[bogus]\nx = 1\n", "bogus: unknown key"),
        ("[delivery]\nretries = 3\n", "delivery.retries: unknown key"),
        (RELAY + "bogus = 1\n", "providers.relay.bogus: unknown key"),
        # each provider type has its own keys: an smtp key in an outbox table is unknown
        ('[providers.outbox]\ntype = "outbox"\nhost = "x"\n', "providers.outbox.host: unknown key"),
        ('base_dir = "/etc"\n', "base_dir: unknown key"),
    ],
)
def test_unknown_key_is_an_error_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in problems_of(write(tmp_path, text), {"IEP_TEST_RELAY_PASSWORD": "pw"})


@pytest.mark.parametrize("value", ["[0]", '["a"]', "[-5]", "[60, 0]", '"60"', "[1.5]"])
@pytest.mark.parametrize("section", ["delivery", "webhooks"])
def test_retry_schedule_must_be_a_list_of_positive_integers(
    tmp_path: Path, section: str, value: str
) -> None:
    path = write(tmp_path, f"[{section}]\nretry_schedule = {value}\n")

    assert problems_of(path) == [f"{section}.retry_schedule: expected a list of positive integers"]


def test_every_bad_key_in_every_section_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[server]\nport = "eighty"\nbogus = 1\n'
        "[delivery]\nretry_schedule = [0]\n"
        '[storage]\nsynchronous = "OFF"\n'
        "[breaker]\nerror_rate = 2\n"
        "[nonsense]\nx = 1\n",
    )

    problems = problems_of(path)

    keys = sorted(p.split(":", 1)[0] for p in problems)
    # A section with several bad keys reports each of them.
    assert keys == [
        "breaker.error_rate",
        "delivery.retry_schedule",
        "nonsense",
        "server.bogus",
        "server.port",
        "storage.synchronous",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[server]\nport = "x"\n', "server.port: expected `int`, got `str`"),
        ("[server]\nport = 70000\n", "server.port: expected `int` <= 65535"),
        ("[delivery]\nconcurrency = 0\n", "delivery.concurrency: expected `int` >= 1"),
        ("server = 3\n", "server: expected `object`, got `int`"),
        ('[providers.relay]\nhost = "x"\n', "providers.relay.type: required key is missing"),
        ('[providers.relay]\ntype = "pigeon"\n', "providers.relay.type: invalid enum value"),
        ("providers = 3\n", "providers: expected a table of providers"),
        ("[providers.relay]\ntype = 3\n", "providers.relay.type: expected `str`, got `int`"),
        ("[providers]\nrelay = 3\n", "providers.relay: expected `object`, got `int`"),
    ],
)
def test_a_bad_value_names_its_key(tmp_path: Path, text: str, expected: str) -> None:
    problems = problems_of(write(tmp_path, text))

    assert any(p.startswith(expected) for p in problems), problems


def test_routing_to_an_undeclared_provider_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[routing]\ndefault_provider = "relay"\nfallback_provider = "x"\n')

    assert problems_of(path) == [
        "routing.default_provider: unknown provider 'relay'",
        "routing.fallback_provider: unknown provider 'x'",
    ]


def test_relative_paths_resolve_against_the_config_file_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = tmp_path / "etc" / "iep"
    conf_dir.mkdir(parents=True)
    path = write(conf_dir, '[storage]\npath = "db/iep.db"\nattachments_dir = "../files"\n')
    monkeypatch.chdir(tmp_path)

    cfg = load(Path("etc/iep/iep.toml"), environ={})

    assert cfg.storage.path == str(conf_dir / "db" / "iep.db")
    assert cfg.storage.attachments_dir == str(tmp_path / "etc" / "files")
    assert cfg.base_dir == str(path.parent)


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "x.db"
    path = write(tmp_path / "", f'[storage]\npath = "{target}"\n')

    assert load(path, environ={}).storage.path == str(target)


def test_smtp_password_is_read_from_the_named_environment_variable(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, RELAY), environ={"IEP_TEST_RELAY_PASSWORD": "s3cret"})

    assert cfg.providers["relay"].password == "s3cret"
    assert cfg.providers["relay"].username == "mailer"


def test_smtp_password_env_that_is_not_set_is_an_error(tmp_path: Path) -> None:
    assert problems_of(write(tmp_path, RELAY), {}) == [
        "providers.relay.password_env: environment variable IEP_TEST_RELAY_PASSWORD is not set"
    ]


def test_smtp_username_without_password_env_is_an_error(tmp_path: Path) -> None:
    text = RELAY.replace('password_env = "IEP_TEST_RELAY_PASSWORD"\n', "")

    assert problems_of(write(tmp_path, text)) == [
        "providers.relay.password_env: required when username is set"
    ]


def test_every_bad_key_of_a_provider_table_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, '[providers.relay]\ntype = "smtp"\nport = "x"\nconnections = 0\n')

    assert problems_of(path) == [
        "providers.relay.port: expected `int`, got `str`",
        "providers.relay.connections: expected `int` >= 1",
    ]


def test_an_unknown_provider_type_names_the_known_ones(tmp_path: Path) -> None:
    (problem,) = problems_of(write(tmp_path, '[providers.relay]\ntype = "pigeon"\n'))

    assert problem == (
        "providers.relay.type: invalid enum value 'pigeon' (expected one of 'smtp', 'outbox')"
    )


def test_plaintext_password_in_the_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, RELAY + 'password = "hunter2"\n')

    problems = problems_of(path, {"IEP_TEST_RELAY_PASSWORD": "pw"})

    assert problems == [
        "providers.relay.password: secrets come from the environment; use password_env"
    ]


def test_smtp_without_username_needs_no_password(tmp_path: Path) -> None:
    text = (
        '[providers.relay]\ntype = "smtp"\npassword_env = "UNSET_VARIABLE_FOR_TEST"\n'
        '[routing]\ndefault_provider = "relay"\n'
    )

    cfg = load(write(tmp_path, text), environ={})

    assert cfg.providers["relay"].password == ""


def test_file_that_is_not_toml_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server\nport = 1\n")

    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: not valid TOML")


def test_missing_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path / "absent.toml")

    assert problem.startswith(f"{tmp_path / 'absent.toml'}: cannot read config file")


def test_iep_check_prints_each_bad_key_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[server]\nbogus = 1\n[delivery]\nretry_schedule = [0]\n")

    code = cli.main(["check", "--config", str(path)])

    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err == [
        "error: server.bogus: unknown key",
        "error: delivery.retry_schedule: expected a list of positive integers",
    ]


def test_iep_check_accepts_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "[server]\nport = 9000\n")

    assert cli.main(["check", "--config", str(path)]) == 0
    assert "OK" in capsys.readouterr().out


def test_config_round_trips_through_msgspec(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, ""), environ={})

    assert msgspec.convert(msgspec.to_builtins(cfg), Config) == cfg


# ---- environment overrides and every problem at once ----------


def test_environment_overrides_any_key_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\n" + RELAY)
    environ = {
        "IEP_SERVER__PORT": "9100",
        "IEP_SERVER__HOST": "0.0.0.0",
        "IEP_DELIVERY__RETRY_SCHEDULE": "[5, 10]",
        "IEP_LOGGING__ACCESS_LOG": "false",
        "IEP_PROVIDERS__RELAY__HOST": "smtp.example.net",
        "IEP_TEST_RELAY_PASSWORD": "pw",
    }

    cfg = load(path, environ=environ)

    assert (cfg.server.port, cfg.server.host) == (9100, "0.0.0.0")
    assert cfg.delivery.retry_schedule == [5, 10]
    assert cfg.logging.access_log is False
    assert cfg.providers["relay"].host == "smtp.example.net"
    assert cfg.providers["relay"].port == 2525


def test_a_bad_environment_value_names_the_key_and_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "")

    problems = problems_of(path, {"IEP_SERVER__PORT": "eighty", "IEP_SERVER__PROT": "1"})

    assert problems == [
        "server.port: expected `int`, got `str` (from the environment variable IEP_SERVER__PORT)",
        "server.prot: unknown key (from the environment variable IEP_SERVER__PROT)",
    ]


def test_variables_without_a_double_underscore_are_not_config(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, ""), environ={"IEP_BINARY": "/x", "IEP_RELAY_PASSWORD": "s"})

    assert cfg == load(write(tmp_path, ""), environ={})


def test_no_config_file_gives_the_defaults_with_data_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    cfg = load(None, environ={"IEP_SERVER__PORT": "9200"})

    assert cfg.storage.path == str(tmp_path / "data" / "iep.db")
    assert cfg.server.port == 9200


def test_check_lists_every_problem_of_every_stage_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[server]\nbogus = 1\n[routing]\ndefault_provider = "nowhere"\n'
        '[providers.outbox]\ntype = "outbox"\npassword = "x"\n',
    )

    problems = problems_of(path)

    assert problems == [
        "server.bogus: unknown key",
        "routing.default_provider: unknown provider 'nowhere'",
        "providers.outbox.password: secrets come from the environment; use password_env",
    ]
