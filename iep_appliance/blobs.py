"""Attachment storage behind a small interface; the local-directory backend.

Files are written and fsynced before the commit that references them, so a `202`
never points at a missing file. Keys are `{tenant}/{message}/{position}_{filename}`.
Files are 0600 and directories 0700 whatever the umask (DESIGN §10.1: nothing in the data
directory is readable by "other"); `make_private_dirs` and `open_private` serve the backups too.
An S3-compatible backend for scale-out implements the same verbs.
"""

import contextlib
import errno
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from iep_appliance.domain.errors import StoreUnavailable

if TYPE_CHECKING:
    from iep_appliance.config_blobs import BlobsConfig

_STORAGE_ERRNOS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only filesystem",
    errno.EIO: "disk I/O error",
}


class Blobs(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def delete(self, key: str) -> None:
        """Remove one blob; a missing one is not an error (retention)."""

    def keys(self, prefix: str = "") -> list[str]:
        """Every key under `prefix`, sorted (backups, `iep store copy`)."""


FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private_dirs(directory: Path) -> None:
    """`mkdir -p` whose every new level is 0700 (`Path.mkdir(parents=True)` makes the parents
    with the default mode, and every mode is cut by the umask: chmod after)."""
    missing: list[Path] = []
    here = directory
    while not here.exists():
        missing.append(here)
        here = here.parent
    for level in reversed(missing):
        with contextlib.suppress(FileExistsError):
            level.mkdir(mode=DIR_MODE)
            os.chmod(level, DIR_MODE)


def open_private(path: Path) -> BinaryIO:
    """A new (or truncated) file for writing, 0600 from its creation on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, "wb")


def narrow_tree(root: Path) -> None:
    """Clear the "other" bits of `root` and everything under it (files placed by a restore)."""
    for path in [root, *root.rglob("*")]:
        with contextlib.suppress(FileNotFoundError):
            mode = path.lstat().st_mode & 0o7777
            if mode & 0o007 and not path.is_symlink():
                os.chmod(path, mode & ~0o007)


class LocalBlobs:
    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"blob key escapes the attachment directory: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        """Write and fsync one blob.

        Raises:
            StoreUnavailable: the disk is full or read-only (the partial file is removed).
        """
        path = self._path(key)
        tmp = path.with_name(path.name + ".tmp")
        try:
            make_private_dirs(path.parent)
            with open_private(tmp) as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            reason = _STORAGE_ERRNOS.get(exc.errno or 0)
            if reason is None:
                raise
            raise StoreUnavailable(reason) from exc

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def keys(self, prefix: str = "") -> list[str]:
        root = self.root.resolve()
        if not root.is_dir():
            return []
        found = (
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and not p.name.endswith(".tmp")
        )
        return sorted(k for k in found if k.startswith(prefix))

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self._path(prefix), ignore_errors=True)

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        # Drop the emptied `{tenant}/{message}` directory (never the root or a tenant's).
        parent = path.parent
        if parent != self.root.resolve() and parent.parent != self.root.resolve():
            with contextlib.suppress(OSError):
                parent.rmdir()


def open_blobs(cfg: "BlobsConfig", attachments_dir: str, environ: Mapping[str, str]) -> Blobs:
    """The attachment store `[blobs] backend` names: local files or an S3-compatible bucket."""
    if cfg.backend == "s3":
        from iep_appliance.blobs_s3 import S3Blobs  # obstore loads only when a bucket is used

        return S3Blobs(cfg, environ)
    return LocalBlobs(attachments_dir)
