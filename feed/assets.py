"""The sandbox's release asset store over HTTP: ``/releases/download/{tag}/{name}``.

Rules:
- A request names exactly one directory (the tag) and one file inside it; ``..``, ``.``, hidden
  names, separators and NUL are refused with 400 before the file system is touched.
- The resolved path (symlinks followed) must stay inside the assets directory, else 404: a link
  pointing outside is treated as absent, never served.
- Names match exactly, as on GitHub: the tag and the file name must each be an entry of their
  directory's listing, byte for byte. On a case-insensitive disk (macOS's default) the file system
  alone would serve ``/releases/download/updatebeta/nexy.dmg``; GitHub answers that with 404.
- Starlette's FileResponse gives ``Content-Length``, ``Accept-Ranges``, single and multiple ranges
  (206/416) and HEAD; a matching ``If-None-Match`` gives 304.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from .http import etag_matches

__all__ = ["AssetStore"]


def _is_plain_segment(segment: str) -> bool:
    return bool(segment) and not segment.startswith(".") and not any(ch in segment for ch in "/\\\0")


def _listed(directory: Path, name: str) -> bool:
    """True when ``name`` is exactly one of the entries of ``directory`` (no case folding)."""
    with os.scandir(directory) as entries:
        return any(entry.name == name for entry in entries)


class AssetStore:
    """Serves ``<directory>/<tag>/<name>`` and nothing outside ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()

    def locate(self, tag: str, name: str) -> Path | None:
        try:
            if not (_listed(self.directory, tag) and _listed(self.directory / tag, name)):
                return None
            candidate = (self.directory / tag / name).resolve()
            if not candidate.is_relative_to(self.directory) or not candidate.is_file():
                return None
        except (OSError, RuntimeError):
            # A name too long for the file system, a symlink loop: absent, not a server error.
            return None
        return candidate

    async def download(self, request: Request) -> Response:
        tag, name = request.path_params["tag"], request.path_params["name"]
        if not (_is_plain_segment(tag) and _is_plain_segment(name)):
            return PlainTextResponse("Bad asset path\n", status_code=400)
        path = self.locate(tag, name)
        if path is None:
            return PlainTextResponse("Not Found\n", status_code=404)
        try:
            stat_result = os.stat(path)
        except OSError:
            return PlainTextResponse("Not Found\n", status_code=404)
        response = FileResponse(path, stat_result=stat_result, media_type="application/octet-stream")
        if etag_matches(request.headers.get("if-none-match"), response.headers["etag"]):
            keep = {key: response.headers[key] for key in ("etag", "last-modified")}
            return Response(status_code=304, headers=keep)
        return response
