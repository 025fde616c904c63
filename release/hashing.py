"""Streaming sha256 and size, the one hashing routine of the workstation side.

Rules: memory stays flat (fixed-size chunks read into one reused buffer); the digest is
lowercase hex, as manifests store it; ``progress`` hears about every chunk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .store.base import Progress

__all__ = ["CHUNK", "HashingWriter", "hash_file", "iter_file"]

CHUNK = 1 << 20


def hash_file(path: Path, progress: Progress | None = None) -> tuple[str, int]:
    """Return (sha256 hex, size in bytes) of ``path``."""
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            digest.update(view[:count])
            size += count
            if progress is not None:
                progress(count)
    return digest.hexdigest(), size


def iter_file(path: Path, progress: Progress | None = None, chunk: int = CHUNK) -> Iterator[bytes]:
    """Yield ``path`` in chunks (for streaming uploads)."""
    with open(path, "rb") as handle:
        while data := handle.read(chunk):
            if progress is not None:
                progress(len(data))
            yield data


class HashingWriter:
    """A binary sink that hashes what it writes (for streaming downloads); without a handle it
    only hashes, so checking what a URL serves keeps no bytes."""

    def __init__(self, handle: BinaryIO | None = None, progress: Progress | None = None) -> None:
        self._handle = handle
        self._digest = hashlib.sha256()
        self._progress = progress
        self.size = 0

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        self.size += len(data)
        if self._progress is not None:
            self._progress(len(data))
        return len(data) if self._handle is None else self._handle.write(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
