"""Files only the account that runs the bot may read: the database, its folder, the files it saves.

Under the usual umask (022) new files are 0644 and folders 0755: anyone on the machine could read
who has back pain and what they said about it. So modes are set here, never left to the umask.
SQLite gives its -wal and -shm files the mode of the database file, so a 0600 database file made
before SQLite opens it keeps them private too.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_folder(path: Path) -> Path:
    """Make the folder and any missing parents; each one made here is 0700, whatever the umask."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    path.mkdir(parents=True, exist_ok=True)
    for folder in missing:
        folder.chmod(PRIVATE_FOLDER)
    return path


def private_file(path: Path) -> None:
    """Make the file if missing (empty) and set it to 0600, whatever the umask."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE)
    try:
        os.fchmod(descriptor, PRIVATE_FILE)
    finally:
        os.close(descriptor)


def write_private(path: Path, data: bytes) -> None:
    """Write the file (replacing what was there), 0600 whatever the umask; never through a symlink."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE_FILE)
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(descriptor, PRIVATE_FILE)
        file.write(data)


def private_sqlite_file(path: Path) -> None:
    """The database file 0600 (made empty if missing, before SQLite makes it 0644), its folder made
    0700 if missing, and any -wal, -shm or -journal file left from an earlier run made 0600."""
    private_folder(path.parent)
    private_file(path)
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.chmod(PRIVATE_FILE)
