"""Streaming transfers for the GitHub store (httpx), so memory stays flat for any artifact size.

Rules:
- Uploads stream the file in chunks with an explicit ``Content-Length`` (GitHub requires it) and a
  timeout on every phase; PyGithub would give the uploads host no timeout, so uploads are done here.
- Downloads follow redirects (the CDN is another host; httpx drops the token on a cross-origin hop)
  and hash while they stream. A file download goes to a temporary file in the destination's
  directory, is fsynced, renamed over the destination and the directory fsynced: the streaming
  form of ``schemas.atomic_write``, which takes bytes and so cannot hold a 1 GiB artifact.
- The token only ever travels in the ``Authorization`` header; it is never part of a URL or message.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import httpx

from ..hashing import HashingWriter, iter_file
from .base import Progress

__all__ = ["api_headers", "download_to", "hash_url", "upload_asset"]

API_VERSION = "2022-11-28"


def api_headers(token: str | None, accept: str = "application/vnd.github+json") -> dict[str, str]:
    headers = {"Accept": accept, "X-GitHub-Api-Version": API_VERSION, "User-Agent": "nexy-release"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def upload_asset(
    client: httpx.Client,
    upload_url: str,
    token: str,
    name: str,
    source: Path,
    size: int,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """POST ``source`` as asset ``name`` to a release's ``upload_url``; the new asset's JSON."""
    headers = api_headers(token)
    headers["Content-Type"] = "application/octet-stream"
    headers["Content-Length"] = str(size)
    response = client.post(
        upload_url.split("{", 1)[0],
        params={"name": name},
        headers=headers,
        content=iter_file(source, progress),
    )
    response.raise_for_status()
    document: Any = response.json()
    if not isinstance(document, dict):
        raise httpx.DecodingError("the upload answered something other than an asset object")
    return document


class _Sink:
    """Discards bytes (``hash_url`` only needs the digest)."""

    def write(self, data: bytes) -> int:
        return len(data)


def _stream(
    client: httpx.Client, url: str, headers: dict[str, str], writer: HashingWriter
) -> tuple[str, int]:
    with client.stream("GET", url, headers=headers, follow_redirects=True) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes(1 << 20):
            writer.write(chunk)
    return writer.hexdigest(), writer.size


def hash_url(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> tuple[str, int]:
    """(sha256, size) of what ``url`` serves, without keeping the bytes."""
    return _stream(client, url, headers or {}, HashingWriter(_Sink()))  # type: ignore[arg-type]


def download_to(
    client: httpx.Client,
    url: str,
    dest: Path,
    headers: dict[str, str],
    progress: Progress | None = None,
) -> tuple[str, int]:
    """Stream ``url`` into ``dest`` atomically; (sha256, size) of the bytes written."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            result = _stream(client, url, headers, HashingWriter(handle, progress))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    dir_fd = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return result
