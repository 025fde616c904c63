"""What the archive readers accept: sizes, counts and member names, one place for every bound.

Rules:
- An archive is hostile until read: every reader stops at ``MAX_ENTRIES`` entries, refuses a
  member it needs (Info.plist, PackageInfo, Distribution, the TOC) above ``MAX_MEMBER_BYTES``, and
  decompresses at most ``MAX_SCANNED_BYTES`` of a payload looking for it (a bomb ends there).
- A member name is refused when it is absolute or has a ``..`` component (``safe_name``), before
  anything is extracted; extraction only ever goes into a fresh temp dir.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Final

__all__ = ["MAX_ENTRIES", "MAX_MEMBER_BYTES", "MAX_SCANNED_BYTES", "ArchiveError", "safe_name"]

MAX_ENTRIES: Final = 200_000
MAX_MEMBER_BYTES: Final = 4 << 20
MAX_SCANNED_BYTES: Final = 1 << 30


class ArchiveError(ValueError):
    """The archive cannot be read as what it claims; the message is one line saying what was found."""


def safe_name(name: str) -> str:
    """``name`` without a leading ``./``; raises ``ArchiveError`` for an absolute or ``..`` path."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        raise ArchiveError(f"entry {name[:120]!r} points outside the archive (path traversal); refused")
    return str(path).removeprefix("./") if str(path) != "." else ""
