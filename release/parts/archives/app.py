"""The app inside an archive: which ``*.app`` it is, and its Info.plist as plistlib reads it.

Rules:
- The app is the one ``*.app`` at the top of the image (or one folder down, where an HFS+ volume's
  name shows as a folder), as Sparkle's ``generate_appcast`` takes the app at the archive's root;
  none, or several at the same depth, is an ``ArchiveError`` naming what was found.
- Info.plist is parsed by plistlib (XML or binary); a root that is not a dictionary is refused.
"""

from __future__ import annotations

import plistlib
import re
from dataclasses import dataclass, field
from typing import Any, Final

from release.parts.archives.bounds import ArchiveError

__all__ = ["AppBundle", "Contents", "find_app", "parse_info"]

_INFO: Final = re.compile(r"^(?:[^/]+/)?[^/]+\.app/Contents/Info\.plist$")


@dataclass(frozen=True)
class AppBundle:
    path: str  # the .app folder inside the archive, "/"-separated
    info: dict[str, Any]
    code_resources: bool  # Contents/_CodeSignature/CodeResources is there (the app is signed)


@dataclass(frozen=True)
class Contents:
    """What a reader found: the archive kind, the app, and for a pkg its PackageInfo version."""

    kind: str
    app: AppBundle | None
    pkg_version: str | None = None
    pkg_identifier: str | None = None
    reader: str = ""
    notes: list[str] = field(default_factory=list)


def find_app(names: list[str]) -> str:
    """The ``.app`` folder among ``names`` (paths inside the archive) that has an Info.plist."""
    plists = sorted((name.count("/"), name) for name in names if _INFO.match(name))
    if not plists:
        apps = sorted({name.split(".app/")[0] + ".app" for name in names if ".app/" in name})
        seen = f"only {', '.join(apps[:3])} without Contents/Info.plist" if apps else "no *.app in it"
        raise ArchiveError(f"{seen}; the update must hold the app at its top")
    depth = plists[0][0]
    top = [name for level, name in plists if level == depth]
    if len(top) > 1:
        shown = ", ".join(name.removesuffix("/Contents/Info.plist") for name in top[:3])
        raise ArchiveError(f"several apps at the top ({shown}); Sparkle takes one: ship one app")
    return top[0].removesuffix("/Contents/Info.plist")


def parse_info(data: bytes, where: str) -> dict[str, Any]:
    try:
        document = plistlib.loads(data)
    except (plistlib.InvalidFileException, ValueError, OverflowError) as exc:
        raise ArchiveError(f"{where} is not a readable plist ({type(exc).__name__})") from None
    if not isinstance(document, dict):
        raise ArchiveError(f"{where}: the plist's root is not a dictionary")
    return document
