"""Backup and restore of one appliance: the database and the attachment files in one
`.tar.gz` with a manifest.

Backup order (why it is consistent while the server accepts and sends): first an online copy of
the database (`Snapshots.snapshot`, a capability of the SQLite backend: one read snapshot, the
writer keeps committing), THEN the attachment directory. An attachment file is fsynced before
the commit that refers to it (blobs.py), so every file a row of the copy names already exists
when the directory is read.
Files written after the snapshot may be included too (no row names them: harmless).
The archive is written as `FILE.partial` and renamed into place when complete.

Archive layout: `database/iep.db`, `attachments/<key>` (keys as in blobs.py), `manifest.json`
(last: it carries the counts). Restore extracts into a temporary directory beside the data
directory, checks the manifest, runs PRAGMA integrity_check and compares counts, and only then
renames the files into place; it refuses a data directory or attachment directory that holds any
file. A crash during a restore leaves the temporary directory (named `.restore-*`), never a
half-placed database.
"""

import asyncio
import io
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import msgspec

from iep_appliance.blobs import FILE_MODE, make_private_dirs, narrow_tree, open_private
from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.errors import Conflict, FieldError, ValidationFailed
from iep_appliance.domain.retention import (
    BACKUP_ATTACHMENTS,
    BACKUP_DATABASE,
    BACKUP_FORMAT,
    BACKUP_FORMAT_VERSION,
    BACKUP_MANIFEST,
    BACKUP_SECRET_KEY,
    BackupManifest,
    check_manifest,
)
from iep_appliance.store.base import Snapshots, Store

Progress = Callable[[str], None]
_FILES_PER_REPORT = 1000


def _quiet(_line: str) -> None:
    pass


def snapshots_of(store: Store | Snapshots) -> Snapshots:
    """The store's file-snapshot capability. Raises Conflict for a backend without one (its
    database is backed up with its own tooling)."""
    if not isinstance(store, Snapshots):
        raise Conflict(
            f"The {type(store).__name__} backend takes no file snapshots;"
            " back its database up with the database's own tools"
        )
    return store


async def backup(
    store: Store,
    attachments_dir: str,
    dest: str,
    version: str,
    clock: Clock,
    progress: Progress = _quiet,
    secret_key_file: Path | None = None,
) -> BackupManifest:
    """Write a consistent archive of the running store and its attachments to `dest`, with
    the master key file `secret_key_file` when given (and present)."""
    snapshots = snapshots_of(store)
    target = await asyncio.to_thread(_target, dest)
    created_at = ids.iso(clock.now())
    with tempfile.TemporaryDirectory(prefix=".iep-backup-", dir=target.parent) as tmp:
        db_copy = Path(tmp) / "iep.db"
        last = [-1]

        def pages(done: int, total: int) -> None:
            pct = 100 * done // total if total else 100
            if pct != last[0]:
                last[0] = pct
                progress(f"database: {done}/{total} pages copied, {total - done} remaining")

        info = await snapshots.snapshot(str(db_copy), pages)
        progress(f"database: snapshot taken (schema {info.schema_version}, {info.counts})")
        # The files the snapshot's rows refer to, no more (newer uploads belong to rows it
        # does not have) and no less: a file a purge removed since the snapshot takes its
        # rows out of the copy, as if that purge had run just before the backup.
        keys = await snapshots.snapshot_attachment_keys(str(db_copy))
        partial = target.with_name(target.name + ".partial")
        files, size, missing = await asyncio.to_thread(
            _write_attachments, partial, keys, Path(attachments_dir), progress
        )
        if missing:
            progress(f"attachments: {len(missing)} purged since the snapshot, left out")
            info = await snapshots.snapshot_forget_attachments(str(db_copy), missing)
        await asyncio.to_thread(_add_database, partial, db_copy)
        with_key = await asyncio.to_thread(_add_secret_key, partial, secret_key_file)
        if with_key:
            progress(f"master key: {BACKUP_SECRET_KEY} included (keep the archive private)")
        manifest = BackupManifest(
            format=BACKUP_FORMAT,
            format_version=BACKUP_FORMAT_VERSION,
            version=version,
            schema_version=info.schema_version,
            created_at=created_at,
            database=BACKUP_DATABASE,
            counts=info.counts,
            attachment_files=files,
            attachment_bytes=size,
            secret_key=with_key,
        )
        await asyncio.to_thread(_finish_archive, partial, target, manifest)
    progress(f"archive written: {target}")
    return manifest


def _target(dest: str) -> Path:
    target = Path(dest).resolve()
    make_private_dirs(target.parent)
    return target


def _write_attachments(
    partial: Path, keys: list[str], attachments: Path, progress: Progress
) -> tuple[int, int, list[str]]:
    """The files of `keys` into a new uncompressed tar: (files, bytes, keys whose file was
    gone). The database and the manifest are appended after."""
    files = size = 0
    missing: list[str] = []
    root = attachments.resolve()
    open_private(partial).close()  # tarfile would create it 0644: the archive is 0600
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        for key in keys:
            path = (root / key).resolve()
            if not path.is_relative_to(root):
                raise ValueError(f"attachment key escapes the attachment directory: {key!r}")
            try:
                # Opened first: a purge unlinking it now cannot take the bytes from under us.
                with path.open("rb") as fh:
                    info = tar.gettarinfo(arcname=f"{BACKUP_ATTACHMENTS}/{key}", fileobj=fh)
                    info.mode = FILE_MODE  # restored as private as it was kept
                    tar.addfile(info, fh)
            except FileNotFoundError:
                missing.append(key)
                continue
            files += 1
            size += info.size
            if files % _FILES_PER_REPORT == 0:
                progress(f"attachments: {files} files archived")
    progress(f"attachments: {files} files, {size} bytes")
    return files, size, missing


def _add_database(partial: Path, db_copy: Path) -> None:
    with tarfile.open(partial, "a", format=tarfile.PAX_FORMAT) as tar:
        info = tar.gettarinfo(db_copy, arcname=BACKUP_DATABASE)
        info.mode = FILE_MODE
        with db_copy.open("rb") as fh:
            tar.addfile(info, fh)


def _add_secret_key(partial: Path, key_file: Path | None) -> bool:
    if key_file is None or not key_file.is_file():
        return False
    with tarfile.open(partial, "a", format=tarfile.PAX_FORMAT) as tar:
        info = tar.gettarinfo(key_file, arcname=BACKUP_SECRET_KEY)
        info.mode = FILE_MODE
        with key_file.open("rb") as fh:
            tar.addfile(info, fh)
    return True


def _finish_archive(partial: Path, target: Path, manifest: BackupManifest) -> None:
    """Append the manifest, gzip into `target.partial.gz`, fsync, rename into place."""
    raw = msgspec.json.format(msgspec.json.encode(manifest))
    with tarfile.open(partial, "a", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(BACKUP_MANIFEST)
        info.size = len(raw)
        info.mtime = int(Path(partial).stat().st_mtime)
        info.mode = FILE_MODE
        tar.addfile(info, io.BytesIO(raw))
    packed = partial.with_name(partial.name + ".gz")
    try:
        with open(partial, "rb") as src, open_private(packed) as out:
            gz = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
            while chunk := src.read(1 << 20):
                out.write(gz.compress(chunk))
            out.write(gz.flush())
            out.flush()
            os.fsync(out.fileno())
        os.replace(packed, target)
    finally:
        partial.unlink(missing_ok=True)
        packed.unlink(missing_ok=True)


# ---- restore ------------------------------------------------------------------------------


def _bad(message: str) -> ValidationFailed:
    return ValidationFailed([FieldError("--from", message)], "The backup cannot be restored")


def occupied(directory: Path) -> Path | None:
    """The first file under `directory` (None when it is absent or holds only directories)."""
    if not directory.exists():
        return None
    if not directory.is_dir():
        return directory
    for root, _dirs, names in os.walk(directory):
        if names:
            return Path(root) / names[0]
    return None


async def restore(
    store: Store | Snapshots,
    db_path: str,
    attachments_dir: str,
    archive: str,
    progress: Progress = _quiet,
) -> BackupManifest:
    """Place the archive's database and attachments into an empty (or absent) data directory.

    `store` is only asked to check the extracted copy (it is not opened).

    Raises:
        Conflict: the data directory or the attachment directory holds a file.
        ValidationFailed: the archive is missing, corrupt, foreign, or fails its checks
            (the error names `--from`).
    """
    snapshots = snapshots_of(store)
    db, atts = Path(db_path).resolve(), Path(attachments_dir).resolve()  # noqa: ASYNC240
    staging = await asyncio.to_thread(_prepare, db, atts, Path(archive))
    data_dir = db.parent
    try:
        progress(f"extracting {archive}")
        await asyncio.to_thread(_extract, Path(archive), staging)
        manifest, copy, found_files = await asyncio.to_thread(
            _unpacked, staging, snapshots.latest_schema_version()
        )
        progress("checking the database (PRAGMA integrity_check)")
        try:
            info = await snapshots.inspect_snapshot(str(copy))
        except ValueError as exc:
            raise _bad(str(exc)) from None
        if info.integrity != "ok":
            raise _bad(f"the database fails its integrity check: {info.integrity}")
        if info.schema_version != manifest.schema_version or info.counts != manifest.counts:
            raise _bad("the database does not match the manifest (counts or schema version)")
        if found_files != manifest.attachment_files:
            raise _bad(
                f"the archive holds {found_files} attachment files, "
                f"the manifest {manifest.attachment_files}"
            )
        await asyncio.to_thread(_place, staging, db, atts)
        progress(
            f"restored {manifest.counts.get('messages', 0)} messages and "
            f"{manifest.attachment_files} attachment files into {data_dir}"
        )
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _prepare(db: Path, atts: Path, source: Path) -> Path:
    """Refuse an occupied target or a missing archive; make the staging directory."""
    data_dir = db.parent
    for directory in (data_dir, atts):
        found = occupied(directory)
        if found is not None:
            raise Conflict(
                f"refusing to restore into {directory}: it is not empty ({found} exists); "
                "restore into an empty or absent data directory"
            )
    if not source.is_file():
        raise _bad(f"{source}: no such file")
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restore-", dir=data_dir.parent))


def _unpacked(staging: Path, latest_schema: int) -> tuple[BackupManifest, Path, int]:
    """The checked manifest, the database copy and the number of attachment files."""
    manifest_path = staging / BACKUP_MANIFEST
    if not manifest_path.is_file():
        raise _bad("not an IEP backup: no manifest.json")
    try:
        manifest = check_manifest(manifest_path.read_bytes(), latest_schema)
    except ValueError as exc:
        raise _bad(str(exc)) from None
    copy = staging / BACKUP_DATABASE
    if not copy.is_file():
        raise _bad(f"not an IEP backup: no {BACKUP_DATABASE}")
    if manifest.secret_key != (staging / BACKUP_SECRET_KEY).is_file():
        raise _bad(f"the archive's {BACKUP_SECRET_KEY} does not match the manifest")
    files = staging / BACKUP_ATTACHMENTS
    found = sum(len(n) for _r, _d, n in os.walk(files)) if files.is_dir() else 0
    return manifest, copy, found


def _extract(source: Path, staging: Path) -> None:
    allowed = (BACKUP_MANIFEST, BACKUP_DATABASE, BACKUP_SECRET_KEY)
    try:
        with tarfile.open(source, "r:*") as tar:
            for member in tar:
                name = member.name
                if not (name in allowed or name.startswith(BACKUP_ATTACHMENTS + "/")):
                    raise _bad(f"not an IEP backup: unexpected entry {name!r}")
                if not (member.isfile() or member.isdir()):
                    raise _bad(f"not an IEP backup: {name!r} is not a plain file")
                # The "data" filter refuses absolute paths, `..`, links out of the tree.
                tar.extract(member, staging, filter="data")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise _bad(f"not a readable backup archive ({' '.join(str(exc).split())})") from None


def _place(staging: Path, db: Path, atts: Path) -> None:
    """Attachments first, the database last: its appearance marks a finished restore."""
    # What the archive (an older one holds 0644 files) and the extraction made: no "other" bits.
    narrow_tree(staging)
    files = staging / BACKUP_ATTACHMENTS
    if files.is_dir():
        if atts.exists():
            shutil.rmtree(atts)  # checked empty of files above
        make_private_dirs(atts.parent)
        _move(files, atts)
    else:
        make_private_dirs(atts)
    make_private_dirs(db.parent)
    key = staging / BACKUP_SECRET_KEY
    if key.is_file():
        os.chmod(key, 0o600)
        _move(key, db.parent / BACKUP_SECRET_KEY)
    _move(staging / BACKUP_DATABASE, db)
    dir_fd = os.open(db.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _move(src: Path, dest: Path) -> None:
    try:
        os.replace(src, dest)  # atomic on one filesystem
    except OSError:
        shutil.move(str(src), str(dest))  # another filesystem: copy, then remove
