"""Attachment storage behind a small interface; the local-directory backend.

Files are written and fsynced before the commit that references them, so a `202`
never points at a missing file. Keys are `{tenant}/{message}/{position}_{filename}`.
An S3-compatible backend for scale-out implements the same verbs.
"""

import contextlib
import errno
import os
import shutil
from pathlib import Path
from typing import Protocol

from iep_appliance.domain.errors import StoreUnavailable

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
        """Remove one blob; a missing one is not an error (retention, issue 9)."""


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
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
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
