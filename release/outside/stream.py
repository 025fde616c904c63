"""Streaming bytes: sha256 and size of files and of what a URL serves, the workstation's one hasher.

Rules:
- Memory stays flat whatever the size: fixed-size chunks, files read into one reused buffer, URLs
  streamed through a writer that hashes and forgets (or writes on to a handle).
- Digests are lowercase hex sha256, as manifests store them; ``Progress`` hears about every chunk.
- A URL is read with redirects followed (a CDN is another host; httpx drops an ``Authorization``
  header on a cross-origin hop) and an HTTP error status raises ``httpx.HTTPStatusError``.
- ``verify_public`` is the one check that a public URL serves given bytes, for every store: it
  retries while the bytes are stale or answer an error status (a CDN catching up after a replace)
  and while the server cannot be reached; it answers False for bytes still wrong after the last
  attempt and raises a one-line ``ReleaseError`` for a server still unreachable then.
- This module imports no store and no probe: they all import it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, retry_if_result, stop_after_attempt
from tenacity.wait import WaitBaseT

from release.errors import CHECK_FAILED, ReleaseError
from schemas.fileio import atomic_stream

__all__ = [
    "CHUNK",
    "HashingWriter",
    "Progress",
    "download_to",
    "hash_file",
    "hash_url",
    "iter_file",
    "stream_to",
    "verify_public",
]

CHUNK = 1 << 20

# Bytes moved by each chunk; a retried transfer first reports minus what its failed attempt
# reported, so a progress bar ends exactly at the file size.
Progress = Callable[[int], None]


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


def stream_to(
    http: httpx.Client, url: str, writer: HashingWriter, headers: dict[str, str] | None = None
) -> tuple[str, int]:
    """Stream what ``url`` serves (redirects followed) into ``writer``; (sha256, size). Raises httpx errors."""
    with http.stream("GET", url, headers=headers or {}, follow_redirects=True) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes(CHUNK):
            writer.write(chunk)
    return writer.hexdigest(), writer.size


def hash_url(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> tuple[str, int]:
    """(sha256, size) of what ``url`` serves, without keeping the bytes."""
    return stream_to(client, url, HashingWriter(), headers)


def download_to(
    client: httpx.Client,
    url: str,
    dest: Path,
    headers: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> tuple[str, int]:
    """Stream ``url`` into ``dest`` through ``schemas.fileio.atomic_stream`` (``dest`` changes only once
    every byte arrived; a cut transfer leaves nothing); (sha256, size) of the bytes written."""
    with atomic_stream(dest) as handle:
        return stream_to(client, url, HashingWriter(handle, progress), headers)


def verify_public(
    client: httpx.Client,
    url: str,
    *,
    sha256: str,
    size: int,
    attempts: int,
    wait: WaitBaseT,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """True once ``url`` serves exactly ``size`` bytes hashing to ``sha256`` (no token is sent)."""

    def attempt() -> bool:
        try:
            return hash_url(client, url) == (sha256, size)
        except httpx.TransportError:
            raise  # unreachable (refused, timed out, TLS not trusted): retried, then said
        except httpx.HTTPError:
            return False  # an error status (a 404 right after a replace), a redirect loop: not these bytes

    def gave_up(state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is not None:
            raise ReleaseError(f"cannot fetch {url}: {type(exc).__name__}: {exc}", code=CHECK_FAILED)
        return False

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait,
        sleep=sleep,
        retry=retry_if_result(lambda matched: matched is False)
        | retry_if_exception_type(httpx.TransportError),
        retry_error_callback=gave_up,
    )
    return bool(retrying(attempt))
