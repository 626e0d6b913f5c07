"""`iep backup|restore|purge`. Progress goes to stderr, the result to stdout."""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from iep_appliance import __version__
from iep_appliance.cli.context import Services, add_command
from iep_appliance.cli.output import OK
from iep_appliance.config import Config
from iep_appliance.services.secret_box import KEY_FILE


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    bk = add_command(sub, common, "backup", "online backup of the store + attachments", _backup)
    bk.add_argument("--to", required=True, metavar="FILE", help="archive to write (.tar.gz)")
    rs = sub.add_parser("restore", parents=[common], help="restore a backup into an empty data dir")
    rs.add_argument("--from", required=True, dest="source", metavar="FILE", help="archive")
    rs.set_defaults(run=_restore)
    pg = add_command(sub, common, "purge", "purge data past its retention window", _purge)
    pg.add_argument("--dry-run", action="store_true", help="show what would go; change nothing")


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def _backup(s: Services, args: argparse.Namespace) -> int:
    from iep_appliance.services.backups import backup

    rt = s.all
    key_env = rt.config.security.secret_key_env
    key_file = None  # a key from the environment is not the appliance's to archive
    if not (key_env and os.environ.get(key_env)):
        key_file = Path(rt.config.storage.path).parent / KEY_FILE
    manifest = await backup(
        rt.store,
        rt.config.storage.attachments_dir,
        args.to,
        __version__,
        rt.clock,
        _progress,
        secret_key_file=key_file,
    )
    if key_file is None:
        _progress(f"master key: from ${key_env}, not in the archive (keep it with the backup)")
    counts = ", ".join(f"{k} {v}" for k, v in manifest.counts.items())
    print(f"backup written to {args.to}: {counts}, attachment files {manifest.attachment_files}")
    return OK


async def _restore(cfg: Config, args: argparse.Namespace) -> int:
    from iep_appliance.services.backups import restore
    from iep_appliance.wiring import wire

    services = wire(cfg, deliver=False)  # never opened: restore must not create the database
    manifest = await restore(
        services.store, cfg.storage.path, cfg.storage.attachments_dir, args.source, _progress
    )
    print(
        f"restored backup of {manifest.created_at} (iep {manifest.version}, schema "
        f"{manifest.schema_version}) into {cfg.storage.path}"
    )
    return OK


async def _purge(s: Services, args: argparse.Namespace) -> int:
    retention = s.all.retention
    if args.dry_run:
        plan = await retention.plan()
        if args.json:
            print(json.dumps({"dryRun": True, **_plan_json(plan)}))
            return OK
        print(
            f"dry run: messages finished before {plan.message_cutoff or 'never (kept forever)'}, "
            f"attachments before {plan.attachment_cutoff or 'never (kept forever)'} would go:"
        )
        for kind, n in plan.counts.items():
            print(f"  {kind:<20} {n:>10}")
        if plan.oldest:
            print(f"  messages created from {plan.oldest} to {plan.newest}")
        return OK
    last = [0.0]

    def progress(totals: dict[str, int]) -> None:
        now = s.all.clock.monotonic()
        if now - last[0] >= 1.0:
            last[0] = now
            done = ", ".join(f"{k} {v}" for k, v in totals.items() if v)
            _progress(f"purging: {done or 'nothing yet'}")

    counts = await retention.purge(progress=progress)
    if args.json:
        print(json.dumps({"dryRun": False, "counts": counts}))
    else:
        print("purged: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    return OK


def _plan_json(plan: Any) -> dict[str, Any]:
    return {
        "counts": plan.counts,
        "messageCutoff": plan.message_cutoff,
        "attachmentCutoff": plan.attachment_cutoff,
        "oldest": plan.oldest,
        "newest": plan.newest,
    }
