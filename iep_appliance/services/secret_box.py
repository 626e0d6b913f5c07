"""The master key (DESIGN §10): secrets at rest under AES-256-GCM, tokens under derived HMAC keys.

The key comes from the environment variable `[security] secret_key_env` names (32 bytes as 64
hex digits or base64); when it is unset, `secret.key` next to the database is read, or created
(0600) on first use. Each use gets its own key derived with HKDF, so the AES key never signs a
token and a VERP token key never opens an unsubscribe token. Never logs a key or a plaintext.
"""

import base64
import binascii
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from iep_appliance.domain.errors import ConfigError

KEY_FILE = "secret.key"
_VERSION = b"\x01"  # sealed = version, 12-byte nonce, ciphertext + 16-byte tag
_NONCE = 12


class SecretUnreadable(Exception):
    """A sealed secret that does not open under this master key (wrong key, or altered)."""


def _decode_key(text: str) -> bytes | None:
    text = text.strip()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None
    return raw if len(raw) == 32 else None


def load_master_key(env_name: str, data_dir: str | Path, environ: Mapping[str, str]) -> bytes:
    """The 32-byte master key. Raises ConfigError naming the variable or file when unusable."""
    value = environ.get(env_name, "") if env_name else ""
    if value:
        key = _decode_key(value)
        if key is None:
            raise ConfigError(
                [f"security.secret_key_env: {env_name} must hold 32 bytes as hex or base64"]
            )
        return key
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: two processes starting at once agree on one key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32) + "\n")
    key = _decode_key(path.read_text(encoding="ascii", errors="replace"))
    if key is None:
        raise ConfigError([f"{path}: not a master key (expected 64 hex digits)"])
    return key


class SecretBox:
    """Seal/open secrets bound to a context string (e.g. "dkim:example.com:iep1")."""

    def __init__(self, master_key: bytes | Callable[[], bytes]) -> None:
        """`master_key`, or a function that loads it on first use (so that building a Runtime
        for a CLI command such as `iep restore` writes no secret.key into the data dir)."""
        self._source = master_key
        self._master: bytes | None = None
        self._aead_cache: AESGCM | None = None

    def _key(self) -> bytes:
        if self._master is None:
            source = self._source
            self._master = source() if callable(source) else source
        return self._master

    @property
    def _aead(self) -> AESGCM:
        if self._aead_cache is None:
            self._aead_cache = AESGCM(self.derive("iep secrets at rest v1"))
        return self._aead_cache

    def derive(self, label: str) -> bytes:
        """A 32-byte key for one purpose (HKDF-SHA256 over the master key)."""
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode("utf-8")
        ).derive(self._key())

    def seal(self, plaintext: bytes, context: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context.encode("utf-8"))

    def open(self, sealed: bytes, context: str) -> bytes:
        """Raises SecretUnreadable when `sealed` was not sealed by this key for `context`."""
        if len(sealed) < 1 + _NONCE + 16 or sealed[:1] != _VERSION:
            raise SecretUnreadable("not a sealed secret")
        nonce, body = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
        try:
            return self._aead.decrypt(nonce, body, context.encode("utf-8"))
        except InvalidTag:
            raise SecretUnreadable("sealed under another key or altered") from None
