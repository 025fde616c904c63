"""Real sample archives for a version (the sandbox's and the demo's ``Nexy.dmg`` and ``Nexy.pkg``), so preflight reads inside them.

Rules:
- The dmg is a real UDIF (``release.parts.archives.udif.build_udif``, zlib chunks) around an
  ISO 9660 volume with Rock Ridge and Joliet names, made by pycdlib: 7-Zip reads it on Linux and
  ``hdiutil attach`` mounts it on macOS (ISO 9660 is one of the file systems disk images may hold:
  ``hdiutil makehybrid``). Nothing on Linux writes HFS+ or APFS without root; Sparkle's own HFS+ and
  APFS images are the reader's fixtures (tests/fixtures/archives/).
- It holds ``Nexy.app/Contents/Info.plist`` (the workspace's app plist, so ``CFBundleVersion``,
  ``SUPublicEDKey`` and the rest are what bump and the sandbox key made), a
  ``_CodeSignature/CodeResources`` placeholder (not a real signature: codesign is macOS only and
  the sandbox has no identity) and ``Contents/Resources/payload.bin``, random bytes that give the
  demo its artifact size.
- The pkg is a real xar (``build_xar``) in ``pkgbuild``'s component layout: ``PackageInfo`` with
  the version, and a gzip'd odc cpio ``Payload`` of the same app. It has no ``Bom`` (mkbom's
  format is not needed by any reader here; installer(8) would refuse the pkg).
- Written with ``atomic_write``.
"""

from __future__ import annotations

import gzip
import io
import os
import plistlib
from pathlib import Path
from typing import Any

import pycdlib

from release.parts.archives.payload import build_cpio
from release.parts.archives.udif import build_udif
from release.parts.archives.xar import build_xar
from schemas import atomic_write

__all__ = ["APP_NAME", "make_dmg", "make_pkg"]

APP_NAME = "Nexy.app"
# A stand-in with CodeResources' shape (codesign writes a plist of file hashes there).
_CODE_RESOURCES = plistlib.dumps({"files": {}, "files2": {}, "rules": {}, "rules2": {}})


def _app_files(info: dict[str, Any], padding: int) -> list[tuple[str, bytes]]:
    return [
        ("Contents/Info.plist", plistlib.dumps(info, fmt=plistlib.FMT_XML)),
        ("Contents/_CodeSignature/CodeResources", _CODE_RESOURCES),
        ("Contents/Resources/payload.bin", os.urandom(padding)),
    ]


def _iso_name(part: str) -> str:
    # ISO 9660 level 3 names are d-characters (A-Z, 0-9, _); Rock Ridge and Joliet carry the real name.
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in part.upper())[:30] or "_"


def make_dmg(path: Path, info: dict[str, Any], padding: int) -> None:
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident="Nexy")
    made: set[str] = set()
    for name, data in _app_files(info, padding):
        parts = [APP_NAME, *name.split("/")]
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder not in made:
                made.add(folder)
                iso_path = "/" + "/".join(_iso_name(p) for p in parts[:depth])
                iso.add_directory(iso_path, rr_name=parts[depth - 1], joliet_path="/" + folder)
        iso_file = "/" + "/".join(_iso_name(p) for p in parts) + ";1"
        iso.add_fp(
            io.BytesIO(data), len(data), iso_file, rr_name=parts[-1], joliet_path="/" + "/".join(parts)
        )
    image = io.BytesIO()
    iso.write_fp(image)
    iso.close()
    atomic_write(path, build_udif(image.getvalue(), "Nexy (ISO 9660 : 1)"))


def make_pkg(path: Path, info: dict[str, Any], version: str, padding: int) -> None:
    identifier = str(info.get("CFBundleIdentifier", "com.nexy.assistant"))
    files = [(f"{APP_NAME}/{name}", data, 0o100644) for name, data in _app_files(info, padding)]
    payload = gzip.compress(build_cpio(files), compresslevel=1, mtime=0)
    package_info = (
        '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'
        f'<pkg-info format-version="2" identifier="{identifier}.pkg" version="{version}" '
        'install-location="/Applications" auth="root">\n'
        f'    <payload numberOfFiles="{len(files)}" installKBytes="{max(1, len(payload) >> 10)}"/>\n'
        f'    <bundle id="{identifier}" path="./{APP_NAME}"/>\n'
        "</pkg-info>\n"
    ).encode()
    atomic_write(path, build_xar([("PackageInfo", package_info, True), ("Payload", payload, False)]))
