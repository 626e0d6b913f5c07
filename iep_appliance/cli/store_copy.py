"""`iep store copy --from CONFIG --to CONFIG`: move an appliance from SQLite (and attachment
files) to PostgreSQL (and an S3-compatible bucket). Progress on stderr; the verified counts on
stdout (or as JSON); exit 1 when a count differs. Resumable: run it again to finish or refresh.
"""

import argparse
import asyncio
import os
import sys
from typing import Any

import msgspec

from iep_appliance.blobs import open_blobs
from iep_appliance.cli.output import OK, REFUSED, emit, fail
from iep_appliance.config import Config, load
from iep_appliance.domain.errors import ConfigError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    store = sub.add_parser("store", parents=[common], help="move the store between backends")
    verbs = store.add_subparsers(dest="store_command", required=True)
    cp = verbs.add_parser(
        "copy", parents=[common], help="copy SQLite data and attachments to PostgreSQL (and S3)"
    )
    cp.add_argument("--from", dest="source", required=True, metavar="CONFIG", help="iep.toml")
    cp.add_argument("--to", dest="target", required=True, metavar="CONFIG", help="iep.toml")
    cp.add_argument("--batch", type=int, default=2000, help="rows per transaction")
    cp.set_defaults(run=_copy)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def _copy(_cfg: Config, args: argparse.Namespace) -> int:
    try:
        source, target = load(args.source), load(args.target)
    except ConfigError as exc:
        return fail(exc.problems)
    if source.storage.backend != "sqlite":
        return fail([f"{args.source}: storage.backend must be sqlite (the store to copy from)"])
    if target.storage.backend != "postgresql":
        return fail([f"{args.target}: storage.backend must be postgresql (the store to fill)"])
    from iep_appliance.store.factory import copy_sqlite_to_postgresql

    try:
        counts = await asyncio.to_thread(
            copy_sqlite_to_postgresql, source, target, _progress, args.batch
        )
    except ConfigError as exc:
        return fail(exc.problems)
    files = await asyncio.to_thread(_copy_blobs, source, target)
    bad = [c for c in counts if not c.matches]
    emit(
        args,
        {
            "tables": [msgspec.to_builtins(c) | {"matches": c.matches} for c in counts],
            "attachmentFiles": files,
            "verified": not bad,
        },
        "\n".join(
            [
                f"{c.table}: {c.source} → {c.target} {'ok' if c.matches else 'DIFFERS'}"
                for c in counts
            ]
            + [f"attachments: {files} files copied", "verified" if not bad else "NOT verified"]
        ),
    )
    return OK if not bad else REFUSED


def _copy_blobs(source: Config, target: Config) -> int:
    """Every attachment the target lacks, from the source's blob store; the number copied."""
    src = open_blobs(source.blobs, source.storage.attachments_dir, os.environ)
    dst = open_blobs(target.blobs, target.storage.attachments_dir, os.environ)
    have = set(dst.keys())
    wanted = [k for k in src.keys() if k not in have]  # noqa: SIM118 - Blobs.keys(), not a dict
    for i, key in enumerate(wanted, 1):
        dst.put(key, src.get(key))
        if i % 500 == 0 or i == len(wanted):
            _progress(f"attachments: {i}/{len(wanted)} files")
    return len(wanted)
