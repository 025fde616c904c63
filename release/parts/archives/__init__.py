"""Reading inside the release archives: ``Nexy.dmg`` (UDIF) and ``Nexy.pkg`` (xar), on macOS and Linux.

Rules:
- ``read_dmg`` and ``read_pkg`` return ``Contents`` (the archive kind, the app's Info.plist,
  whether it carries ``_CodeSignature/CodeResources``, the pkg's version) or raise
  ``ArchiveError`` with one line saying what was found; ``ReaderMissing`` when this machine has no
  dmg reader (Linux without 7-Zip), with the fix.
- Archives are hostile input: every bound is in ``bounds``; nothing is written outside a temp dir.
"""

from release.parts.archives.app import AppBundle, Contents
from release.parts.archives.bounds import ArchiveError
from release.parts.archives.dmg import ReaderMissing, read_dmg
from release.parts.archives.pkg import read_pkg

__all__ = ["AppBundle", "ArchiveError", "Contents", "ReaderMissing", "read_dmg", "read_pkg"]
