"""Re-creating a runtime directory someone deleted, the way its parent is.

Rules:
- A missing directory is created private (0700), then opened with no-follow and given its
  existing parent's owner and mode through that descriptor, never by name: the feed, which runs
  as the app user, must be able to read a ``manifests/`` directory the reconciler re-created.
- Owner changes that the process may not make (it is not root) are skipped: a daemon running as
  the tree's owner creates directories that are already its own.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

__all__ = ["ensure_directory"]


def ensure_directory(directory: Path) -> list[Path]:
    """Create ``directory`` and any missing parents like their nearest existing ancestor; the
    directories created, outermost first."""
    missing: list[Path] = []
    current = directory
    while not os.path.lexists(current):
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    if not missing:
        return []
    ancestor = os.stat(current)
    if not stat.S_ISDIR(ancestor.st_mode):
        raise NotADirectoryError(f"{current} is not a directory")
    created: list[Path] = []
    for path in reversed(missing):
        os.mkdir(path, 0o700)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            if (ancestor.st_uid, ancestor.st_gid) != (os.geteuid(), os.getegid()):
                with contextlib.suppress(PermissionError):
                    os.fchown(fd, ancestor.st_uid, ancestor.st_gid)
            os.fchmod(fd, stat.S_IMODE(ancestor.st_mode))
        finally:
            os.close(fd)
        created.append(path)
    return created
