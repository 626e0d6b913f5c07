"""services/secret_box.py: the master key from the environment or secret.key (0600), and
AES-256-GCM sealing bound to a context."""

import os
import stat
from pathlib import Path

import pytest

from iep_appliance.domain.errors import ConfigError
from iep_appliance.services.secret_box import SecretBox, SecretUnreadable, load_master_key

HEX = "ab" * 32


def test_without_the_variable_secret_key_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_master_key("IEP_SECRET_KEY", tmp_path / "data", {})
    again = load_master_key("IEP_SECRET_KEY", tmp_path / "data", {})

    path = tmp_path / "data" / "secret.key"
    assert first == again and len(first) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize("value", [HEX, "q" * 43 + "="])
def test_the_variable_wins_over_the_file(tmp_path: Path, value: str) -> None:
    key = load_master_key("K", tmp_path, {"K": value})

    assert len(key) == 32
    assert not (tmp_path / "secret.key").exists()


@pytest.mark.parametrize("value", ["short", "ab" * 31, "not base64 at all!!"])
def test_a_bad_variable_is_a_config_error_naming_it(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_master_key("K", tmp_path, {"K": value})

    assert "security.secret_key_env: K" in caught.value.problems[0]


def test_sealed_secrets_open_only_with_the_same_key_and_context() -> None:
    box = SecretBox(bytes.fromhex(HEX))
    sealed = box.seal(b"private key", "dkim:example.com:iep1")

    assert b"private key" not in sealed
    assert box.open(sealed, "dkim:example.com:iep1") == b"private key"
    with pytest.raises(SecretUnreadable):
        box.open(sealed, "dkim:example.com:iep2")
    with pytest.raises(SecretUnreadable):
        SecretBox(b"\x00" * 32).open(sealed, "dkim:example.com:iep1")
    with pytest.raises(SecretUnreadable):
        box.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), "dkim:example.com:iep1")


def test_derived_keys_differ_per_purpose() -> None:
    box = SecretBox(bytes.fromhex(HEX))

    assert box.derive("verp") != box.derive("unsubscribe")
    assert box.derive("verp") == SecretBox(bytes.fromhex(HEX)).derive("verp")
