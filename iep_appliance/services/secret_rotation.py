"""`iep secrets rotate` (DESIGN §10): every secret at rest — tenant provider credentials, DKIM
private keys and webhook signing secrets — opened under the current master key and sealed
again under a new one, in one store transaction (all or nothing). A secret that does not
open under the current key stops the rotation before anything is written.

Where the new key lives: with the key in `secret.key`, a new random key is written to
`secret.key.new` (0600) first, the store rewritten, then the file renamed over `secret.key`;
with the key from `[security] secret_key_env`, the new key comes from the variable the operator
names (`--new-key-env`), and the operator then points the appliance at it.
"""

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from iep_appliance.domain.errors import ConfigError
from iep_appliance.services.secret_box import KEY_FILE, SecretBox, _decode_key
from iep_appliance.services.webhook_secrets import reseal_text
from iep_appliance.store.protocols.providers import TenantProviderStore


def new_key_from_env(name: str, environ: Mapping[str, str]) -> bytes:
    key = _decode_key(environ.get(name, ""))
    if key is None:
        raise ConfigError([f"--new-key-env: {name} must hold 32 bytes as hex or base64"])
    return key


def write_pending_key(data_dir: Path) -> tuple[bytes, Path]:
    """A new random key in `secret.key.new` (0600); returns it and the file."""
    key = secrets.token_bytes(32)
    path = data_dir / (KEY_FILE + ".new")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key.hex() + "\n")
        out.flush()
        os.fsync(out.fileno())
    return key, path


async def rotate(store: TenantProviderStore, old: SecretBox, new: SecretBox) -> int:
    """Re-seal every secret at rest; returns how many. Raises SecretUnreadable (nothing
    written) when one does not open under `old`."""

    def reseal(context: str, sealed: bytes) -> bytes:
        return new.seal(old.open(sealed, context), context)

    return await store.reseal_secrets(reseal, lambda ctx, text: reseal_text(old, new, ctx, text))
