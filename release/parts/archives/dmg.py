"""Read inside a ``Nexy.dmg``: the UDIF trailer, then the app's Info.plist and signature, with the
platform's own reader.

Rules:
- First ``udif.read_koly``: a file that is not UDIF (a zip, text, a truncated download) is
  refused before any tool runs.
- macOS: ``hdiutil attach -nobrowse -readonly -noautoopen -mountpoint <temp dir>`` (hdiutil(1));
  the image is detached in ``finally`` (also on KeyboardInterrupt), ``-force`` when a plain
  detach fails. While mounted, ``inspect`` gets the app's path (codesign runs there).
- Linux: 7-Zip (``7zz``, Debian's ``7zip`` package, or ``7z``) reads UDIF with zlib, bzip2, lzfse
  and xz chunks and the HFS+, APFS or ISO 9660 volume inside in one listing; measured on
  Sparkle's own test images (HFS+ and APFS, 1 MB): ``7zz l`` 0.03-0.1 s. libarchive does not read
  UDIF, and dmg2img + mounting needs root. Without 7-Zip, ``ReaderMissing`` says how to install it.
- 7-Zip lists first (``-slt``); entries are counted and their names checked (``bounds``) before
  one file, the app's Info.plist, is extracted into a fresh temp dir, read without following
  links (``read_regular``) and the dir removed. Nothing is written anywhere else.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final

from release.parts.archives.app import AppBundle, Contents, find_app, parse_info
from release.parts.archives.bounds import MAX_ENTRIES, MAX_MEMBER_BYTES, ArchiveError, safe_name
from release.parts.archives.udif import UdifError, read_koly
from schemas.fileio import FileRefused, read_regular

__all__ = ["ReaderMissing", "read_dmg", "seven_zip"]

_TIMEOUT_S: Final = 300
INSTALL_7ZIP: Final = "install 7-Zip (Debian/Ubuntu: apt-get install 7zip; Homebrew: brew install sevenzip)"


class ReaderMissing(ArchiveError):
    """No tool on this machine reads inside a dmg."""


def seven_zip() -> str | None:
    return shutil.which("7zz") or shutil.which("7z")


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ArchiveError(f"{Path(argv[0]).name} did not finish in {_TIMEOUT_S}s; refused") from None


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line.upper()]
    return ((errors or lines or [f"exit {done.returncode}"])[-1])[:160]


def _listing(text: str) -> list[tuple[str, bool, int]]:
    """(name, is folder, size) of each entry of ``7zz l -slt``: the records after the last ``----------``."""
    body = text.rsplit("\n----------\n", 1)[-1]
    entries: list[tuple[str, bool, int]] = []
    for record in body.split("\n\n"):
        fields = dict(line.split(" = ", 1) for line in record.splitlines() if " = " in line)
        if "Path" not in fields:
            continue
        size = fields.get("Size", "").strip()
        entries.append((fields["Path"], fields.get("Folder") == "+", int(size) if size.isdigit() else 0))
        if len(entries) > MAX_ENTRIES:
            raise ArchiveError(f"more than {MAX_ENTRIES} entries in the image; refused")
    return entries


def _read_7zip(path: Path, tool: str) -> Contents:
    listed = _run([tool, "l", "-slt", "-sccUTF-8", str(path)])
    if listed.returncode != 0:
        raise ArchiveError(f"7-Zip cannot read the image: {_last_line(listed)}")
    entries = _listing(listed.stdout)
    names = [safe_name(name) for name, _, _ in entries]
    sizes = {safe_name(name): size for name, _, size in entries}
    app = find_app(names)
    plist = f"{app}/Contents/Info.plist"
    if sizes[plist] > MAX_MEMBER_BYTES:
        raise ArchiveError(f"{plist} is {sizes[plist]} bytes; refused (more than {MAX_MEMBER_BYTES})")
    with tempfile.TemporaryDirectory(prefix="nexy-dmg-") as scratch:
        done = _run([tool, "x", "-y", "-bd", f"-o{scratch}", str(path), plist])
        if done.returncode != 0:
            raise ArchiveError(f"7-Zip cannot extract {plist}: {_last_line(done)}")
        try:
            data = read_regular(Path(scratch) / plist, max_bytes=MAX_MEMBER_BYTES, below=Path(scratch))
        except FileRefused as exc:
            raise ArchiveError(f"{plist}: {exc}") from None
    if data is None:
        raise ArchiveError(f"7-Zip listed {plist} but extracted nothing")
    signed = f"{app}/Contents/_CodeSignature/CodeResources" in sizes
    banner = [line for line in listed.stdout.splitlines() if line.startswith("7-Zip")]
    reader = banner[0].split(" : ")[0].strip() if banner else "7-Zip"
    return Contents("UDIF dmg", AppBundle(app, parse_info(data, plist), signed), reader=reader)


def _detach(mountpoint: Path) -> None:
    if _run(["hdiutil", "detach", str(mountpoint)]).returncode != 0:
        _run(["hdiutil", "detach", "-force", str(mountpoint)])


def _read_mounted(path: Path, inspect: Callable[[Path], list[str]] | None) -> Contents:
    with tempfile.TemporaryDirectory(prefix="nexy-dmg-") as scratch:
        mountpoint = Path(scratch) / "mnt"
        mountpoint.mkdir()
        argv = ["hdiutil", "attach", "-nobrowse", "-readonly", "-noautoopen", "-mountpoint", str(mountpoint)]
        done = _run([*argv, str(path)])
        if done.returncode != 0:
            raise ArchiveError(f"hdiutil cannot attach the image: {_last_line(done)}")
        try:
            names = []
            for top in sorted(mountpoint.iterdir())[:MAX_ENTRIES]:
                names.append(top.name)
                if top.is_dir() and not top.is_symlink() and top.suffix != ".app":
                    names += [f"{top.name}/{inner.name}" for inner in sorted(top.iterdir())[:MAX_ENTRIES]]
            apps = [f"{name}/Contents/Info.plist" for name in names if name.endswith(".app")]
            app = find_app([name for name in apps if (mountpoint / name).is_file()])
            plist = f"{app}/Contents/Info.plist"
            try:
                data = read_regular(mountpoint / plist, max_bytes=MAX_MEMBER_BYTES, below=mountpoint)
            except FileRefused as exc:
                raise ArchiveError(f"{plist}: {exc}") from None
            info = parse_info(data or b"", plist)
            signed = (mountpoint / app / "Contents/_CodeSignature/CodeResources").is_file()
            notes = inspect(mountpoint / app) if inspect is not None else []
        finally:
            _detach(mountpoint)
    return Contents("UDIF dmg", AppBundle(app, info, signed), reader="hdiutil", notes=notes)


def read_dmg(
    path: Path, *, inspect: Callable[[Path], list[str]] | None = None, platform: str = sys.platform
) -> Contents:
    """The app inside the dmg at ``path``; raises ``ArchiveError`` (one line) when it cannot be read."""
    try:
        read_koly(path)
    except UdifError as exc:
        raise ArchiveError(f"not a UDIF disk image: {exc}") from None
    if platform == "darwin" and shutil.which("hdiutil"):
        return _read_mounted(path, inspect)
    tool = seven_zip()
    if tool is None:
        raise ReaderMissing(f"cannot look inside the dmg here: 7-Zip is not installed; {INSTALL_7ZIP}")
    return _read_7zip(path, tool)
