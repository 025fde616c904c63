"""UDIF, the format of a ``.dmg``: the ``koly`` trailer that says a file is one, and a minimal writer.

Rules:
- Layout from Apple's UDIF as documented by Jonathan Levin ("Demystifying the DMG File Format",
  newosxbook.com/DMG.html) and as 7-Zip's ``Archive/DmgHandler.cpp`` reads it: the last 512 bytes
  are the ``koly`` block (big-endian, version 4, header size 512); it locates the data fork and the
  XML property list whose ``resource-fork``/``blkx`` entries each hold a ``mish`` block table
  (204-byte header, then 40-byte chunks: zero, raw, zlib ``0x80000005``, ``0xFFFFFFFF`` the end).
- ``read_koly`` checks only the trailer (signature, version, header size, offsets inside the file):
  it never decompresses, so a 1 GB file costs one 512-byte read. What is *inside* is read by a
  real reader (``release.parts.archives.dmg``: hdiutil or 7-Zip).
- ``build_udif`` wraps a filesystem image in a UDIF (one ``blkx`` partition, zlib chunks of 1 MiB
  of sectors at level 1, like ``hdiutil convert -format UDZO``'s defaults); the sandbox uses it to make a real dmg.
"""

from __future__ import annotations

import plistlib
import struct
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["KOLY_SIZE", "Koly", "UdifError", "build_udif", "read_koly"]

KOLY_SIZE: Final = 512
SECTOR: Final = 512
# koly: magic, version, header size, flags, running data fork offset, data fork offset/length,
# resource fork offset/length, segment number/count, segment id, data checksum (type, bits, 128 bytes),
# XML offset/length, 120 reserved, master checksum (type, bits, 128 bytes), image variant,
# sector count, 12 reserved.
_KOLY: Final = struct.Struct(">4sIIIQQQQQII16sII128sQQ120xII128sIQ12x")
# mish: magic, version, first sector, sector count, data offset, buffers needed, descriptor count,
# 24 reserved, checksum (type, bits, 128 bytes), chunk count.
_MISH: Final = struct.Struct(">4sIQQQII24xII128sI")
_CHUNK: Final = struct.Struct(">IIQQQQ")
CHUNK_ZLIB: Final = 0x80000005
CHUNK_END: Final = 0xFFFFFFFF
_SECTORS_PER_CHUNK: Final = 2048  # 1 MiB of sectors, hdiutil's UDZO default
_CRC32: Final = 2  # UDIF checksum type: CRC-32, 32 bits


class UdifError(ValueError):
    """The file is not a UDIF image; the message says what was found."""


@dataclass(frozen=True)
class Koly:
    version: int
    data_fork_offset: int
    data_fork_length: int
    xml_offset: int
    xml_length: int
    sector_count: int


def read_koly(path: Path) -> Koly:
    """The UDIF trailer of ``path``; raises ``UdifError`` when it has none or it points outside the file."""
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        if size < KOLY_SIZE:
            raise UdifError(f"{size} bytes, shorter than a UDIF trailer ({KOLY_SIZE} bytes)")
        handle.seek(size - KOLY_SIZE)
        block = handle.read(KOLY_SIZE)
        head = b""
        if block[:4] != b"koly":
            handle.seek(0)
            head = handle.read(4)
    if block[:4] != b"koly":
        found = "a zip archive" if head.startswith(b"PK") else f"ends with {block[-16:].hex()}"
        raise UdifError(f"no 'koly' trailer in the last 512 bytes ({found})")
    fields = _KOLY.unpack(block)
    version, header_size = fields[1], fields[2]
    data_offset, data_length, xml_offset, xml_length = fields[5], fields[6], fields[15], fields[16]
    if version != 4 or header_size != KOLY_SIZE:
        raise UdifError(f"koly version {version}, header size {header_size} (UDIF has 4 and 512)")
    body = size - KOLY_SIZE
    if data_offset + data_length > body or xml_offset + xml_length > body or xml_length == 0:
        raise UdifError(f"koly points past the end of the file ({size} bytes): truncated or damaged")
    return Koly(version, data_offset, data_length, xml_offset, xml_length, fields[21])


def _mish(sectors: int, chunks: list[tuple[int, int, int, int, int]], crc: int) -> bytes:
    table = _MISH.pack(
        b"mish", 1, 0, sectors, 0, _SECTORS_PER_CHUNK, len(chunks) + 1, _CRC32, 32,
        struct.pack(">I", crc).ljust(128, b"\0"), len(chunks) + 1,
    )  # fmt: skip
    for kind, first, count, offset, length in chunks:
        table += _CHUNK.pack(kind, 0, first, count, offset, length)
    return table + _CHUNK.pack(CHUNK_END, 0, sectors, 0, chunks[-1][3] + chunks[-1][4] if chunks else 0, 0)


def build_udif(image: bytes, name: str = "disk image") -> bytes:
    """``image`` (a filesystem, padded to whole sectors) as a zlib-compressed UDIF."""
    image = image + bytes(-len(image) % SECTOR)
    sectors = len(image) // SECTOR
    data = bytearray()
    chunks = []
    for first in range(0, sectors, _SECTORS_PER_CHUNK):
        count = min(_SECTORS_PER_CHUNK, sectors - first)
        packed = zlib.compress(image[first * SECTOR : (first + count) * SECTOR], 1)
        chunks.append((CHUNK_ZLIB, first, count, len(data), len(packed)))
        data += packed
    crc = zlib.crc32(image)
    entry = {
        "Attributes": "0x0050",
        "CFName": name,
        "Data": _mish(sectors, chunks, crc),
        "ID": "0",
        "Name": name,
    }
    xml = plistlib.dumps({"resource-fork": {"blkx": [entry]}}, fmt=plistlib.FMT_XML)
    xml_offset = len(data)
    data_crc = zlib.crc32(bytes(data))
    # The master checksum is the CRC-32 of the partitions' checksums, big-endian, one after another
    # (libdmg-hfsplus calculateMasterChecksum; 7-Zip reports "Master CRC error" otherwise).
    master = zlib.crc32(struct.pack(">I", crc))
    koly = _KOLY.pack(
        b"koly", 4, KOLY_SIZE, 1, 0, 0, xml_offset, 0, 0, 1, 1, uuid.uuid4().bytes,
        _CRC32, 32, struct.pack(">I", data_crc).ljust(128, b"\0"), xml_offset, len(xml),
        _CRC32, 32, struct.pack(">I", master).ljust(128, b"\0"), 1, sectors,
    )  # fmt: skip
    return bytes(data) + xml + koly
