"""Retention and backup rules: what a purge may remove, and what a backup holds.

Pure: the caller passes `now`. A purge only ever touches FINISHED messages (never queued,
scheduled, processing or retrying work) whose last change is older than the window; attachment
files of finished messages go after their own, shorter window. A backup archive carries a
manifest that `check_manifest` validates before anything is restored.
"""

from datetime import datetime, timedelta

import msgspec

from iep_appliance.domain import ids

FINISHED_STATUSES = ("sent", "failed", "bounced", "cancelled")
# Attachment retention leaves a failed message its files: an operator may still retry it, and
# it must not go out without them. They go with the message itself (storage.retention_days).
ATTACHMENTS_DROPPABLE = ("sent", "bounced", "cancelled")
# What a purge counts, in report order. `attachment_files` are blob files (a batch's shared
# file is one file for many attachment rows).
PURGE_KINDS = (
    "messages",
    "events",
    "jobs",
    "attachments",
    "attachment_files",
    "outbox",
    "webhook_deliveries",
    "batches",
)

BACKUP_FORMAT = "iep-backup"
BACKUP_FORMAT_VERSION = 1
BACKUP_DATABASE = "database/iep.db"
BACKUP_ATTACHMENTS = "attachments"
BACKUP_MANIFEST = "manifest.json"
# The master key file (DESIGN §10), when the key comes from it and not from the environment:
# without it a restored appliance cannot open its DKIM keys nor check its old tokens.
BACKUP_SECRET_KEY = "secret.key"


def cutoff(now: datetime, days: int) -> str | None:
    """The ISO instant before which data is out of its window; None when kept forever (0)."""
    if days <= 0:
        return None
    return ids.iso(now - timedelta(days=days))


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(PURGE_KINDS, 0)


def add_counts(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    keys = [*total, *(k for k in more if k not in total)]
    return {k: total.get(k, 0) + more.get(k, 0) for k in keys}


class PurgeStep(msgspec.Struct, frozen=True):
    """What one small purge write removed, and where the next one resumes.

    `after` is the (created_at, id) of the last row scanned; `done` says nothing is left to
    scan; `orphan_keys` are blob keys no remaining row refers to (delete them after commit).
    """

    counts: dict[str, int]
    after: tuple[str, str] | None
    done: bool
    orphan_keys: tuple[str, ...] = ()


class PurgePlan(msgspec.Struct, frozen=True):
    """What a purge at `now` would remove (a dry run): counts per kind, and the creation
    dates of the oldest and newest message that would go."""

    counts: dict[str, int]
    message_cutoff: str | None
    attachment_cutoff: str | None
    oldest: str | None = None
    newest: str | None = None


class SnapshotInfo(msgspec.Struct, frozen=True):
    """A database file's schema version, row counts and (when checked) integrity verdict."""

    schema_version: int
    counts: dict[str, int]
    integrity: str = "unchecked"


class BackupManifest(msgspec.Struct, frozen=True, rename="camel"):
    format: str
    format_version: int
    version: str
    schema_version: int
    created_at: str
    database: str
    counts: dict[str, int]
    attachment_files: int
    attachment_bytes: int
    secret_key: bool = False  # the archive holds BACKUP_SECRET_KEY


def check_manifest(raw: bytes, max_schema_version: int) -> BackupManifest:
    """Decode and judge a backup's manifest. Raises ValueError saying what is wrong."""
    try:
        manifest = msgspec.json.decode(raw, type=BackupManifest)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not an IEP backup: manifest is invalid ({exc})") from None
    if manifest.format != BACKUP_FORMAT:
        raise ValueError(f"not an IEP backup: manifest format is {manifest.format!r}")
    if manifest.format_version != BACKUP_FORMAT_VERSION:
        raise ValueError(f"unsupported backup format version {manifest.format_version}")
    if manifest.database != BACKUP_DATABASE:
        raise ValueError(f"unexpected database entry {manifest.database!r} in the manifest")
    if manifest.schema_version > max_schema_version:
        raise ValueError(
            f"the backup's schema version {manifest.schema_version} is newer than this "
            f"release knows ({max_schema_version}); restore it with a newer iep"
        )
    return manifest
