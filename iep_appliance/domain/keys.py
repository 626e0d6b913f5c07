"""API key format and scope rules. Pure: randomness is passed in.

A key is `iep_<prefix>_<secret>` (sandbox: `iep_test_<prefix>_<secret>`); the prefix
(8 chars) finds the row, the whole key is verified against its argon2id hash.
"""

import msgspec

from iep_appliance.domain.errors import FieldError
from iep_appliance.domain.models import Principal

_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
PREFIX_LEN = 8
SECRET_LEN = 40


class ParsedKey(msgspec.Struct, frozen=True):
    prefix: str
    sandbox: bool


def _encode(random_bytes: bytes, length: int) -> str:
    return "".join(_ALPHABET[b % 62] for b in random_bytes[:length])


def format_key(random_bytes: bytes, sandbox: bool = False) -> tuple[str, str]:
    """Build a key from ≥ 48 random bytes (rejection bias is negligible: 256 % 62 = 8).

    Returns (full key, prefix)."""
    if len(random_bytes) < PREFIX_LEN + SECRET_LEN:
        raise ValueError("need more random bytes")
    prefix = _encode(random_bytes, PREFIX_LEN).lower()
    secret = _encode(random_bytes[PREFIX_LEN:], SECRET_LEN)
    head = "iep_test_" if sandbox else "iep_"
    return f"{head}{prefix}_{secret}", prefix


def parse_key(key: str) -> ParsedKey | None:
    """The prefix of a well-formed key, or None."""
    sandbox = key.startswith("iep_test_")
    body = key[9:] if sandbox else key[4:] if key.startswith("iep_") else None
    if body is None:
        return None
    prefix, sep, secret = body.partition("_")
    if not sep or len(prefix) != PREFIX_LEN or len(secret) != SECRET_LEN:
        return None
    if not (prefix.isalnum() and secret.isalnum()):
        return None
    return ParsedKey(prefix=prefix, sandbox=sandbox)


def mint_refusals(minter: Principal, scopes: tuple[str, ...], sandbox: bool) -> list[FieldError]:
    """What `minter` may not give a key it creates or rotates: privileges never grow.

    A sandbox key mints only sandbox keys (refused, not silently forced, so the caller learns
    why its key is not live); no key mints a scope it does not have itself."""
    errors = []
    if minter.sandbox and not sandbox:
        errors.append(FieldError("sandbox", "a sandbox key can create only sandbox keys"))
    extra = [s for s in scopes if s not in minter.scopes]
    if extra:
        errors.append(
            FieldError("scopes", f"this API key cannot grant scopes it lacks: {', '.join(extra)}")
        )
    return errors
