"""Streaming uploads for the GitHub store (httpx), so memory stays flat for any artifact size.

Rules:
- Uploads stream the file in chunks with an explicit ``Content-Length`` (GitHub requires it) and a
  timeout on every phase; PyGithub would give the uploads host no timeout, so uploads are done here.
- Downloads are ``release.outside.stream``'s (``hash_url``, ``download_to``): they follow redirects (the CDN
  is another host; httpx drops the token on a cross-origin hop), hash while they stream, and a file
  download changes its destination only once every byte arrived.
- The token only ever travels in the ``Authorization`` header; it is never part of a URL or message.
- A retried transfer sends its bytes again, so its progress is an ``AttemptProgress``: each attempt
  first rewinds (a negative count) what the failed one reported, and the bar never passes the size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from release.outside.stream import Progress, iter_file

__all__ = ["AttemptProgress", "api_headers", "upload_asset"]

API_VERSION = "2022-11-28"


class AttemptProgress:
    """Forwards byte counts to ``progress`` and can take back those of a failed attempt."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._moved = 0

    def __call__(self, count: int) -> None:
        self._moved += count
        if self._progress is not None:
            self._progress(count)

    def rewind(self) -> None:
        """Start the next attempt from zero (a no-op before the first one)."""
        if self._moved and self._progress is not None:
            self._progress(-self._moved)
        self._moved = 0


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
