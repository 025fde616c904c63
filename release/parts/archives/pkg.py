"""Read a ``Nexy.pkg``: a xar holding PackageInfo (a component pkg) or Distribution and component
folders (a product pkg), and the app's Info.plist from the payload.

Rules:
- Both platforms read the pkg the same way, in this process (``xar`` and ``payload``): nothing is
  installed and nothing written to disk. ``pkgutil --expand-full`` would need macOS and a
  scratch dir for the whole payload; this reads only the TOC, PackageInfo and one streamed pass
  of the payload (bounded: ``bounds``).
- The pkg's version is PackageInfo's ``version`` attribute (``pkgbuild --version``); with several
  components, the one whose payload holds the app.
"""

from __future__ import annotations

from pathlib import Path

from defusedxml import ElementTree

from release.parts.archives.app import AppBundle, Contents, find_app, parse_info
from release.parts.archives.bounds import ArchiveError
from release.parts.archives.payload import scan_payload
from release.parts.archives.xar import XarMember, read_member, read_toc

__all__ = ["read_pkg"]


def _package_info(path: Path, member: XarMember) -> tuple[str | None, str | None]:
    try:
        root = ElementTree.fromstring(read_member(path, member))
    except ElementTree.ParseError:
        raise ArchiveError(f"{member.name} is not XML: damaged pkg") from None
    return root.get("version"), root.get("identifier")


def _is_app_file(name: str) -> bool:
    return name.endswith(".app/Contents/Info.plist") or name.endswith("/_CodeSignature/CodeResources")


def read_pkg(path: Path) -> Contents:
    members = read_toc(path)
    by_name = {member.name: member for member in members}
    payloads = sorted(name for name in by_name if name == "Payload" or name.endswith("/Payload"))
    if not payloads:
        kind = "product" if "Distribution" in by_name else "xar"
        raise ArchiveError(f"a {kind} archive with no Payload: not an installer package")
    kind = "product pkg (xar, Distribution)" if "Distribution" in by_name else "component pkg (xar)"
    for payload in payloads:
        folder = payload.removesuffix("Payload")
        member = by_name[payload]
        with open(path, "rb") as handle:
            handle.seek(member.offset)
            found, names = scan_payload(handle, member.length, member.encoding, _is_app_file)
        plists = [name for name in found if name.endswith("/Contents/Info.plist")]
        if not plists:
            continue
        app = find_app(plists)
        info = parse_info(found[f"{app}/Contents/Info.plist"], f"{app}/Contents/Info.plist in {payload}")
        signed = f"{app}/Contents/_CodeSignature/CodeResources" in names
        info_member = by_name.get(f"{folder}PackageInfo")
        version, identifier = _package_info(path, info_member) if info_member else (None, None)
        return Contents(kind, AppBundle(app, info, signed), version, identifier, reader="xar (built in)")
    raise ArchiveError(f"no *.app/Contents/Info.plist in the payload ({', '.join(payloads)})")
