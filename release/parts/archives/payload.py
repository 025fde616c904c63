"""A pkg's ``Payload``: gzip'd or pbzx cpio, streamed, looking only for the few files preflight needs.

Rules:
- ``pkgbuild`` writes the payload as a gzip'd cpio in the portable ``odc`` format (``070707``);
  Apple's own newer installers use ``pbzx`` (magic, then chunks of a big-endian flags word, a
  length and xz or stored data: the format as Jonathan Levin's ``pbzx.c`` and libarchive's
  ``archive_read_support_format_xar`` read it). Both are read with the standard library (``zlib``,
  ``lzma``), in chunks: memory stays flat whatever the payload's size.
- cpio headers: ``odc`` (76 bytes, octal) and ``newc`` (110 bytes, hex, 4-byte aligned), as
  libarchive's ``archive_read_support_format_cpio.c`` reads them; ``TRAILER!!!`` ends it.
- Bounded: at most ``MAX_SCANNED_BYTES`` are decompressed and ``MAX_ENTRIES`` entries read; a
  wanted file above ``MAX_MEMBER_BYTES`` is refused; names go through ``safe_name``. Nothing is
  written to disk.
"""

from __future__ import annotations

import lzma
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO, Final

from release.parts.archives.bounds import (
    MAX_ENTRIES,
    MAX_MEMBER_BYTES,
    MAX_SCANNED_BYTES,
    ArchiveError,
    safe_name,
)

__all__ = ["build_cpio", "scan_payload"]

_CHUNK: Final = 1 << 20


class _Stream:
    """Decompressed bytes as a reader, counting every byte against ``MAX_SCANNED_BYTES``."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self.total = 0

    def read(self, size: int) -> bytes:
        parts = [self._buffer]
        have = len(self._buffer)
        while have < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self.total += len(chunk)
            if self.total > MAX_SCANNED_BYTES:
                raise ArchiveError(f"the payload inflates past {MAX_SCANNED_BYTES} bytes; refused (a bomb?)")
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        self._buffer = data[size:]
        return data[:size]

    def skip(self, size: int) -> None:
        while size > 0:
            got = len(self.read(min(size, _CHUNK)))
            if got == 0:
                raise ArchiveError("the payload ends inside a file: truncated")
            size -= got


def _raw(handle: BinaryIO, length: int) -> Iterator[bytes]:
    while length > 0:
        chunk = handle.read(min(length, _CHUNK))
        if not chunk:
            raise ArchiveError("the payload ends early: truncated")
        length -= len(chunk)
        yield chunk


def _inflate(chunks: Iterator[bytes], wbits: int) -> Iterator[bytes]:
    engine = zlib.decompressobj(wbits)
    try:
        for chunk in chunks:
            data = engine.decompress(chunk, _CHUNK)
            yield data
            while engine.unconsumed_tail:
                yield engine.decompress(engine.unconsumed_tail, _CHUNK)
    except zlib.error:
        raise ArchiveError("the payload is not valid gzip data: damaged") from None


def _pbzx(stream: _Stream) -> Iterator[bytes]:
    stream.read(8)  # the first flags word
    while True:
        head = stream.read(16)
        if not head:
            return
        if len(head) < 16:
            raise ArchiveError("a pbzx chunk header is cut short: truncated")
        flags, length = struct.unpack(">QQ", head)
        data = stream.read(length)
        if len(data) < length:
            raise ArchiveError("a pbzx chunk is cut short: truncated")
        if data.startswith(b"\xfd7zXZ\x00"):
            engine = lzma.LZMADecompressor(lzma.FORMAT_XZ)
            try:
                out = engine.decompress(data, _CHUNK)
                yield out
                while not engine.eof and not engine.needs_input:
                    yield engine.decompress(b"", _CHUNK)
            except lzma.LZMAError:
                raise ArchiveError("a pbzx chunk is not valid xz data: damaged") from None
        else:
            yield data
        if not flags & 0x01000000:
            return


def _decoded(handle: BinaryIO, length: int, encoding: str) -> _Stream:
    chunks = _raw(handle, length)
    if encoding == "application/x-gzip":
        chunks = _inflate(chunks, zlib.MAX_WBITS)
    outer = _Stream(chunks)
    magic = outer.read(4)
    if magic[:2] == b"\x1f\x8b":
        return _Stream(_inflate(_prepend(magic, outer), 47))
    if magic == b"pbzx":
        return _Stream(_pbzx(outer))
    if magic[:4] == b"0707":
        return _Stream(_prepend(magic, outer))
    raise ArchiveError(f"the payload is neither gzip, pbzx nor cpio (starts with {magic.hex()})")


def _prepend(head: bytes, stream: _Stream) -> Iterator[bytes]:
    yield head
    while chunk := stream.read(_CHUNK):
        yield chunk


def _header(stream: _Stream) -> tuple[str, int, int]:
    """(name, data size, padding after the data) of the next cpio entry."""
    magic = stream.read(6)
    if magic == b"070707":
        rest = stream.read(70)
        if len(rest) < 70:
            raise ArchiveError("a cpio header is cut short: truncated")
        name_size, size = int(rest[53:59], 8), int(rest[59:70], 8)
        name, name_pad, data_pad = stream.read(name_size), 0, 0
    elif magic in (b"070701", b"070702"):
        rest = stream.read(104)
        if len(rest) < 104:
            raise ArchiveError("a cpio header is cut short: truncated")
        size, name_size = int(rest[48:56], 16), int(rest[88:96], 16)
        name = stream.read(name_size)
        name_pad, data_pad = -(110 + name_size) % 4, -size % 4
        stream.read(name_pad)
    else:
        raise ArchiveError(f"not a cpio entry (found {magic[:6]!r}): damaged payload")
    return safe_name(name.rstrip(b"\0").decode("utf-8", "replace")), size, data_pad


def scan_payload(
    handle: BinaryIO, length: int, encoding: str, wanted: Callable[[str], bool]
) -> tuple[dict[str, bytes], list[str]]:
    """(the wanted files' bytes, every entry name) of the payload at ``handle``'s position."""
    stream = _decoded(handle, length, encoding)
    found: dict[str, bytes] = {}
    names: list[str] = []
    while True:
        try:
            name, size, pad = _header(stream)
        except ValueError as exc:
            if isinstance(exc, ArchiveError):
                raise
            raise ArchiveError("a cpio header has a bad number field: damaged payload") from None
        if name == "TRAILER!!!":
            return found, names
        names.append(name)
        if len(names) > MAX_ENTRIES:
            raise ArchiveError(f"more than {MAX_ENTRIES} entries in the payload; refused")
        if wanted(name):
            if size > MAX_MEMBER_BYTES:
                raise ArchiveError(f"{name} is {size} bytes; refused (more than {MAX_MEMBER_BYTES})")
            data = stream.read(size)
            if len(data) < size:
                raise ArchiveError(f"the payload ends inside {name}: truncated")
            found[name] = data
        else:
            stream.skip(size)
        stream.read(pad)


def build_cpio(files: list[tuple[str, bytes, int]]) -> bytes:
    """An ``odc`` cpio of ``files`` (name, bytes, mode), folders implied by the names, as pkgbuild writes
    one (``./``-prefixed names, then ``TRAILER!!!``); the caller gzips it."""
    folders = sorted(
        {"/".join(name.split("/")[:depth]) for name, _, _ in files for depth in range(1, name.count("/") + 1)}
    )
    entries = [(".", b"", 0o40755)] + [(f"./{folder}", b"", 0o40755) for folder in folders]
    entries += [(f"./{name}", data, mode) for name, data, mode in files]
    entries.append(("TRAILER!!!", b"", 0))
    out = bytearray()
    for inode, (name, data, mode) in enumerate(entries, start=1):
        encoded = name.encode() + b"\0"
        out += b"070707%06o%06o%06o%06o%06o%06o%06o%011o%06o%011o" % (
            0,
            inode,
            mode,
            0,
            80,
            1,
            0,
            0,
            len(encoded),
            len(data),
        )
        out += encoded + data
    return bytes(out)
