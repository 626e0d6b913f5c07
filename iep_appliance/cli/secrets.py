"""`iep secrets rotate`: re-encrypt provider credentials, DKIM keys and webhook secrets under a new
master key (services/secret_rotation.py). Stop the server first: it holds the old key.

Note: bounce (VERP) and unsubscribe tokens are derived from the master key, so links and
bounce addresses in mail sent before the rotation stop matching.
"""

import argparse
import os
from pathlib import Path
from typing import Any

from iep_appliance.cli.context import Services, with_services
from iep_appliance.cli.output import OK, fail
from iep_appliance.services.secret_box import KEY_FILE, SecretBox, SecretUnreadable
from iep_appliance.services.secret_rotation import new_key_from_env, rotate, write_pending_key


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser("secrets", help="secrets at rest (master key)")
    inner = group.add_subparsers(dest="secrets_command", required=True)
    rot = inner.add_parser(
        "rotate",
        parents=[common],
        help="re-encrypt provider credentials, DKIM keys and webhook secrets under a new key",
    )
    rot.add_argument(
        "--new-key-env",
        metavar="VAR",
        help="environment variable holding the new key (64 hex digits); needed when the"
        " current key comes from [security] secret_key_env. Without it a new random key"
        " replaces data/secret.key.",
    )
    rot.set_defaults(run=with_services(_rotate))


async def _rotate(s: Services, args: argparse.Namespace) -> int:
    parts = s.all
    env = parts.config.security.secret_key_env
    from_env = bool(env and os.environ.get(env))
    data_dir = Path(parts.config.storage.path).parent
    pending: Path | None = None
    if args.new_key_env:
        key = new_key_from_env(args.new_key_env, os.environ)
    elif from_env:
        return fail([f"--new-key-env: required, the master key comes from ${env}"])
    else:
        key, pending = write_pending_key(data_dir)
    try:
        count = await rotate(parts.store, parts.secret_box, SecretBox(key))
    except SecretUnreadable as exc:
        if pending is not None:
            pending.unlink(missing_ok=True)
        return fail([f"a secret does not open under the current master key ({exc})"])
    if pending is not None:
        os.replace(pending, data_dir / KEY_FILE)
        print(f"rotated {count} secrets; the new master key is in {data_dir / KEY_FILE}")
    else:
        where = args.new_key_env
        print(f"rotated {count} secrets under ${where}; start the appliance with"
              f" [security] secret_key_env = {where!r} (or its value in ${env})")  # fmt: skip
    return OK
