"""iep.toml.example documents every key of config.Config (STYLE §3), and it runs as-is.

The keys come from `msgspec.json.schema(Config)`, so a key added to config.py without a
description or without a line in the example fails here.
"""

import re
import tomllib
from pathlib import Path

import msgspec
import pytest

from iep_appliance.config import Config, load
from iep_appliance.config_providers import (
    TYPE_DESCRIPTION,
    MailgunProviderConfig,
    SesProviderConfig,
)
from iep_appliance.domain.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "iep.toml.example"
# Keys set by `load()`, never by the file: writing them is refused (tested below).
LOAD_TIME_KEYS = {
    "base_dir", "providers.*.password",
    # the HTTP-API providers' secrets, resolved from their *_env variables
    "providers.*.access_key_id", "providers.*.secret_access_key", "providers.*.api_key",
    "providers.*.webhook_signing_key",
}  # fmt: skip
_HEADER = re.compile(r"^\[([A-Za-z0-9_.-]+)\]$")
_ASSIGN = re.compile(r"^([A-Za-z0-9_]+)\s*=")


def schema_keys() -> dict[str, dict]:
    """Every key as a dotted path ("server.port", "providers.*.host") -> its JSON schema."""
    schema = msgspec.json.schema(Config)
    defs = schema["$defs"]

    def walk(struct: dict, prefix: str, tag: str | None = None) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for name, prop in struct["properties"].items():
            path = f"{prefix}{name}"
            values = prop.get("additionalProperties", {})
            if "$ref" in prop:
                out.update(walk(defs[prop["$ref"].rsplit("/", 1)[1]], path + "."))
            elif "$ref" in values:
                ref = values["$ref"].rsplit("/", 1)[1]
                out.update(walk(defs[ref], path + ".*."))
            elif "discriminator" in values:  # a tagged union (`[providers.NAME]`): every variant
                tag_name = values["discriminator"]["propertyName"]
                for variant in values["anyOf"]:
                    keys = walk(defs[variant["$ref"].rsplit("/", 1)[1]], path + ".*.", tag_name)
                    out.update({k: v for k, v in keys.items() if k not in out})
            elif name == tag:  # the tag carries no description of its own
                out[path] = {**prop, "description": TYPE_DESCRIPTION}
            else:
                out[path] = prop
        return out

    return walk(defs["Config"], "")


def documented_keys(text: str) -> dict[str, str]:
    """Keys written in the example, commented out or not -> the comment block right above.

    `[providers.NAME]` tables count as `providers.*`.
    """
    found: dict[str, str] = {}
    table = ""
    comments: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        body = line.lstrip("#").strip()
        if header := _HEADER.match(body):
            parts = header.group(1).split(".")
            table = "providers.*" if parts[0] == "providers" else ".".join(parts)
            comments = []
        elif assign := _ASSIGN.match(body):
            key = f"{table}.{assign.group(1)}" if table else assign.group(1)
            found.setdefault(key, " ".join(comments))
            comments = []
        elif line.startswith("#"):
            comments.append(body)
        else:
            comments = []
    return found


def uncomment_examples(text: str) -> str:
    """The example with its commented-out tables and keys switched on."""
    out = []
    for raw in text.splitlines():
        body = raw.removeprefix("# ")
        out.append(
            body if raw.startswith("# ") and (_HEADER.match(body) or _ASSIGN.match(body)) else raw
        )
    return "\n".join(out) + "\n"


KEYS = schema_keys()


def test_the_schema_walk_finds_every_section() -> None:
    sections = {k.split(".", 1)[0] for k in KEYS}

    assert {
        "server",
        "storage",
        "delivery",
        "providers",
        "routing",
        "webhooks",
        "limits",
        "breaker",
        "logging",
    } <= sections
    assert "providers.*.password_env" in KEYS


@pytest.mark.parametrize("key", sorted(KEYS))
def test_every_key_has_a_description(key: str) -> None:
    assert KEYS[key].get("description", "").strip(), f"{key} has no description in config.py"


@pytest.mark.parametrize("key", sorted(set(KEYS) - LOAD_TIME_KEYS))
def test_every_key_appears_in_the_example_under_its_description(key: str) -> None:
    documented = documented_keys(EXAMPLE.read_text(encoding="utf-8"))

    assert key in documented, f"{key} is not in iep.toml.example"
    assert KEYS[key]["description"] in documented[key], (
        f"the comment above {key} in iep.toml.example does not carry its description"
    )


def test_the_example_documents_no_key_that_does_not_exist() -> None:
    documented = set(documented_keys(EXAMPLE.read_text(encoding="utf-8")))

    assert documented - set(KEYS) == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('base_dir = "/"\n', "base_dir: unknown key"),
        (
            '[providers.outbox]\ntype = "outbox"\npassword = "x"\n',
            "providers.outbox.password: secrets come from the environment; use password_env",
        ),
    ],
)
def test_load_time_keys_are_refused_in_a_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "iep.toml"
    path.write_text(text)

    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    assert caught.value.problems == [expected]


def test_the_example_loads_and_holds_exactly_the_defaults(tmp_path: Path) -> None:
    example = tmp_path / "iep.toml"
    example.write_text(EXAMPLE.read_text(encoding="utf-8"))
    empty = tmp_path / "empty.toml"
    empty.write_text("")

    assert load(example, environ={}) == load(empty, environ={})


def test_the_example_runs_on_the_embedded_defaults() -> None:
    cfg = load(EXAMPLE, environ={})

    assert cfg.server.port == 8080
    assert cfg.storage.path == str(EXAMPLE.parent / "data" / "iep.db")
    assert {name: p.type for name, p in cfg.providers.items()} == {"outbox": "outbox"}
    assert cfg.routing.default_provider == "outbox"


def test_the_commented_relay_example_loads_when_switched_on(tmp_path: Path) -> None:
    text = uncomment_examples(EXAMPLE.read_text(encoding="utf-8"))
    text = text.replace('username = ""', 'username = "mailer"')
    path = tmp_path / "iep.toml"
    path.write_text(text)

    cfg = load(
        path,
        environ={
            "IEP_RELAY_PASSWORD": "from-env",
            "AWS_ACCESS_KEY_ID": "AKID",  # the HTTP-API provider examples
            "AWS_SECRET_ACCESS_KEY": "secret",
            "SENDGRID_API_KEY": "SG.key",
            "MAILGUN_API_KEY": "key-1",
        },
    )
    ses, mailgun = cfg.providers["ses"], cfg.providers["mailgun"]
    assert isinstance(ses, SesProviderConfig) and isinstance(mailgun, MailgunProviderConfig)
    assert (ses.access_key_id, ses.region) == ("AKID", "us-east-1")
    assert mailgun.domain == "mg.example.com"

    relay = cfg.providers["relay"]
    assert (relay.type, relay.port, relay.security) == ("smtp", 2525, "none")
    assert relay.password_env == "IEP_RELAY_PASSWORD"
    assert relay.password == "from-env"
    assert cfg.routing.fallback_provider == "relay"


def test_the_example_is_valid_toml_without_the_loader() -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))

    assert data["server"] == {
        "host": "127.0.0.1",
        "port": 8080,
        "max_request_bytes": 31457280,
        "drain_seconds": 10.0,
        "workers": 1,
    }
