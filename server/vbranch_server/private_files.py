"""Files only the server's own user may read: the data folder, the secret key, the SQLite
database and customers' uploads.

Modes are set explicitly, never left to the umask (a umask of 022 would make them world-readable),
and existing files are put right at start, so a data folder made by an older version is fixed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path) -> None:
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != FOLDER_MODE:
        path.chmod(FOLDER_MODE)


def private_file(path: Path, *, create: bool = False) -> None:
    """Make `path` readable by its owner only; with `create`, an empty one if it is missing."""
    if create:
        # O_CREAT without O_TRUNC: an existing file keeps its content.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        return
    if mode != FILE_MODE:
        path.chmod(FILE_MODE)


def open_private(path: Path) -> TextIO:
    """A new text file readable by its owner only; FileExistsError if it is already there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # the umask may have taken bits away, never added: set it exactly
    return os.fdopen(fd, "w", encoding="utf-8")
