"""The database's files on disk: no permission for "other" (DESIGN §10.1), whatever the umask.

SQLite creates a new database file 0644 (less the umask) and gives its `-wal`, `-shm` and
journal files the mode of the database file. So the database file is created here, 0600,
before SQLite opens it, and a file left more open by an older version is narrowed: its
"other" bits are cleared, the owner's and group's kept. Directories made here are 0700.
"""

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
_SIDE_FILES = ("-wal", "-shm", "-journal")


def make_dirs(directory: Path) -> None:
    """`mkdir -p` whose every new level is 0700 (`Path.mkdir(parents=True)` makes the
    parents with the default mode)."""
    missing: list[Path] = []
    here = directory
    while not here.exists():
        missing.append(here)
        here = here.parent
    for level in reversed(missing):
        with contextlib.suppress(FileExistsError):
            level.mkdir(mode=DIR_MODE)
            os.chmod(level, DIR_MODE)  # the umask may have taken bits the owner needs


def prepare(path: str) -> None:
    """Before SQLite opens `path`: its directory exists, the file exists 0600 (or at least
    without "other" bits), and so do its side files."""
    db = Path(path)
    make_dirs(db.parent)
    try:
        fd = os.open(db, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        narrow(db)
    else:
        os.fchmod(fd, FILE_MODE)
        os.close(fd)
    narrow_side_files(path)


def narrow_side_files(path: str) -> None:
    for suffix in _SIDE_FILES:
        narrow(Path(path + suffix))


def narrow(path: Path) -> None:
    """Clear the "other" bits of an existing file; a missing one is fine."""
    with contextlib.suppress(FileNotFoundError):
        mode = path.stat().st_mode & 0o7777
        if mode & 0o007:
            os.chmod(path, mode & ~0o007)
