"""Read a xar archive (a flat ``.pkg``): the header, the zlib table of contents, and bounded members.

Rules:
- Format from apple-oss-distributions/xar ``include/xar.h`` and ``lib/archive.c``: a big-endian
  header (magic ``xar!``, header size, version 1, compressed and uncompressed TOC lengths,
  checksum algorithm), then the zlib-compressed XML TOC, then the heap; a file's ``<data>`` gives
  its ``offset`` (into the heap), ``length`` (stored) and ``size`` (extracted) and an ``encoding``
  (``application/x-gzip`` is a zlib stream, ``application/octet-stream`` stored as is).
- Read here rather than by 7-Zip or libarchive: the header and TOC are ~40 lines, need nothing
  installed on either OS, and a pkg's members are read into memory (bounded) without extracting.
- The TOC is parsed with defusedxml; it and every member read are bounded (``bounds``), names
  are checked by ``safe_name``; a member is only located, then read on request.
- ``build_xar`` writes the same layout; the sandbox makes its real pkg with it.
"""

from __future__ import annotations

import bz2
import hashlib
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

from release.parts.archives.bounds import MAX_ENTRIES, MAX_MEMBER_BYTES, ArchiveError, safe_name

__all__ = ["XarMember", "build_xar", "read_member", "read_toc"]

_HEADER: Final = struct.Struct(">4sHHQQI")
_MAX_TOC: Final = 4 << 20
_SHA1: Final = 1  # xar.h XAR_CKSUM_SHA1


@dataclass(frozen=True)
class XarMember:
    name: str  # the path inside the archive, "/"-separated
    kind: str  # "file", "directory", ...
    offset: int  # absolute, in the archive file
    length: int  # stored bytes
    size: int  # extracted bytes
    encoding: str


def _inflate_bounded(data: bytes, limit: int, what: str) -> bytes:
    engine = zlib.decompressobj()
    out = engine.decompress(data, limit + 1)
    if len(out) > limit:
        raise ArchiveError(f"{what} inflates past {limit} bytes; refused (a bomb?)")
    return out


def _members(node: Element, prefix: str, heap: int, count: list[int]) -> Iterator[XarMember]:
    for child in node.findall("file"):
        count[0] += 1
        if count[0] > MAX_ENTRIES:
            raise ArchiveError(f"more than {MAX_ENTRIES} entries in the table of contents; refused")
        name = safe_name(prefix + (child.findtext("name") or ""))
        kind = child.findtext("type") or "file"
        data = child.find("data")
        if data is not None:
            encoding = data.find("encoding")
            yield XarMember(
                name,
                kind,
                heap + int(data.findtext("offset") or 0),
                int(data.findtext("length") or 0),
                int(data.findtext("size") or 0),
                encoding.get("style", "") if encoding is not None else "application/octet-stream",
            )
        else:
            yield XarMember(name, kind, heap, 0, 0, "")
        yield from _members(child, name + "/", heap, count)


def read_toc(path: Path) -> list[XarMember]:
    """Every entry of the xar at ``path``; raises ``ArchiveError`` when it is not one."""
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(0)
        head = handle.read(_HEADER.size)
        if len(head) < _HEADER.size or head[:4] != b"xar!":
            found = (
                "a zip archive" if head.startswith(b"PK") else f"starts with {head[:8].hex() or 'nothing'}"
            )
            raise ArchiveError(f"not a xar archive (no 'xar!' header: {found})")
        _, header_size, version, packed, unpacked, _ = _HEADER.unpack(head)
        if version != 1 or header_size < _HEADER.size:
            raise ArchiveError(f"xar version {version}, header size {header_size}: not a pkg xar")
        if packed > _MAX_TOC or unpacked > _MAX_TOC:
            raise ArchiveError(f"xar table of contents of {max(packed, unpacked)} bytes; refused")
        if header_size + packed > size:
            raise ArchiveError(
                f"xar table of contents runs past the end of the file ({size} bytes): truncated"
            )
        handle.seek(header_size)
        try:
            text = _inflate_bounded(handle.read(packed), _MAX_TOC, "the xar table of contents")
        except zlib.error:
            raise ArchiveError("the xar table of contents is not zlib data: damaged") from None
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise ArchiveError(f"the xar table of contents is not XML ({exc})") from None
    toc = root.find("toc")
    if toc is None:
        raise ArchiveError("the xar has no <toc>")
    members = list(_members(toc, "", header_size + packed, [0]))
    for member in members:
        if member.offset + member.length > size:
            raise ArchiveError(f"{member.name} runs past the end of the file ({size} bytes): truncated")
    return members


def open_stored(handle: BinaryIO, member: XarMember) -> bytes:
    """The stored bytes of ``member`` (bounded), as they are in the heap."""
    if member.length > MAX_MEMBER_BYTES:
        raise ArchiveError(f"{member.name} is {member.length} bytes; refused (more than {MAX_MEMBER_BYTES})")
    handle.seek(member.offset)
    return handle.read(member.length)


def read_member(path: Path, member: XarMember) -> bytes:
    """``member`` extracted into memory, at most ``MAX_MEMBER_BYTES``."""
    with open(path, "rb") as handle:
        stored = open_stored(handle, member)
    try:
        if member.encoding == "application/x-gzip":
            return _inflate_bounded(stored, MAX_MEMBER_BYTES, member.name)
        if member.encoding == "application/x-bzip2":
            out = bz2.BZ2Decompressor().decompress(stored, MAX_MEMBER_BYTES + 1)
            if len(out) > MAX_MEMBER_BYTES:
                raise ArchiveError(f"{member.name} inflates past {MAX_MEMBER_BYTES} bytes; refused")
            return out
    except (zlib.error, OSError):
        raise ArchiveError(f"{member.name} is not {member.encoding} data: damaged") from None
    return stored


def build_xar(files: list[tuple[str, bytes, bool]]) -> bytes:
    """A xar holding ``files`` (name, bytes, zlib-encode?) as ``pkgbuild`` lays one out: SHA-1
    checksums (the TOC's at heap offset 0, each file's archived and extracted), for the sandbox."""
    heap = bytearray(20)  # the TOC checksum goes first
    entries = []
    for number, (name, data, encode) in enumerate(files, start=2):
        stored = zlib.compress(data, 9) if encode else data
        style = "application/x-gzip" if encode else "application/octet-stream"
        entries.append(
            f'<file id="{number}"><name>{name}</name><type>file</type><data><length>{len(stored)}</length>'
            f'<offset>{len(heap)}</offset><size>{len(data)}</size><encoding style="{style}"/>'
            f'<archived-checksum style="sha1">{hashlib.sha1(stored, usedforsecurity=False).hexdigest()}</archived-checksum>'
            f'<extracted-checksum style="sha1">{hashlib.sha1(data, usedforsecurity=False).hexdigest()}</extracted-checksum>'
            "</data></file>"
        )
        heap += stored
    toc = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<xar><toc><checksum style="sha1"><offset>0</offset>'
        f"<size>20</size></checksum>{''.join(entries)}</toc></xar>"
    ).encode()
    packed = zlib.compress(toc, 9)
    heap[:20] = hashlib.sha1(packed, usedforsecurity=False).digest()
    return _HEADER.pack(b"xar!", _HEADER.size, 1, len(packed), len(toc), _SHA1) + packed + bytes(heap)
