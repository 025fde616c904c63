"""A fake GitHub releases API on 127.0.0.1, speaking the documented REST shapes, with fault switches.

Rules:
- Objects are shaped like GitHub's release and release-asset objects (``digest``, ``state``,
  ``size``, ``browser_download_url``, ``upload_url`` on the same host under ``/uploads``), so a wrong
  shape fails inside the real PyGithub client, as it would in production.
- Asset bodies stream to files under ``root`` and are hashed while they arrive: memory stays flat.
- Drafts are not found by tag (only in the listing); an ``immutable`` release refuses asset changes.
- Fault switches (set them on the instance): ``fail_uploads_midway`` (502 after half the body,
  leaving a ``starter`` asset, as GitHub does), ``rate_limited`` (403 with a spent quota and a
  reset time), ``server_errors`` (500s), ``stale_cdn_reads`` (the download URL keeps serving the old
  bytes after a replace), ``retry_after`` (403 secondary limit with ``Retry-After``).
- Everything the tests assert on is readable: ``assets(tag)``, ``requests`` (method, path) log.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .github_api import handle_api, handle_blob, handle_cdn

__all__ = ["FakeAsset", "FakeGithub", "FakeRelease", "running_github"]


@dataclass
class FakeAsset:
    id: int
    name: str
    path: Path
    size: int
    sha256: str
    state: str = "uploaded"
    label: str = ""


@dataclass
class FakeRelease:
    id: int
    tag: str
    draft: bool = False
    immutable: bool = False
    assets: dict[int, FakeAsset] = field(default_factory=dict)


@dataclass
class FakeGithub:
    root: Path
    owner_repo: str = "acme/assets"
    token: str = "fake-token"
    push: bool = True
    releases: dict[int, FakeRelease] = field(default_factory=dict)
    fail_uploads_midway: int = 0
    rate_limited: int = 0
    rate_reset_in: int = 1
    retry_after: int = 0
    server_errors: int = 0
    stale_cdn_reads: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    base_url: str = ""
    _stale: dict[tuple[str, str], Path] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_release(self, tag: str, *, draft: bool = False, immutable: bool = False) -> FakeRelease:
        release = FakeRelease(id=next(self._ids), tag=tag, draft=draft, immutable=immutable)
        self.releases[release.id] = release
        return release

    def release(self, tag: str) -> FakeRelease:
        return next(r for r in self.releases.values() if r.tag == tag)

    def assets(self, tag: str) -> dict[str, FakeAsset]:
        return {a.name: a for a in self.release(tag).assets.values()}

    def put_asset(self, tag: str, name: str, data: bytes) -> FakeAsset:
        path = self.root / f"blob-{next(self._ids)}"
        path.write_bytes(data)
        asset = FakeAsset(next(self._ids), name, path, len(data), hashlib.sha256(data).hexdigest())
        self.release(tag).assets[asset.id] = asset
        return asset

    # -- documented shapes --------------------------------------------------------------------

    def api(self, path: str) -> str:
        return f"{self.base_url}/repos/{self.owner_repo}{path}"

    def asset_json(self, release: FakeRelease, asset: FakeAsset) -> dict[str, Any]:
        return {
            "url": self.api(f"/releases/assets/{asset.id}"),
            "browser_download_url": f"{self.base_url}/{self.owner_repo}/releases/download/{release.tag}/{asset.name}",
            "id": asset.id,
            "node_id": f"RA_{asset.id}",
            "name": asset.name,
            "label": asset.label or None,
            "state": asset.state,
            "content_type": "application/octet-stream",
            "size": asset.size,
            "digest": f"sha256:{asset.sha256}" if asset.state == "uploaded" else None,
            "download_count": 0,
            "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
            "uploader": None,
        }

    def release_json(self, release: FakeRelease) -> dict[str, Any]:
        return {
            "url": self.api(f"/releases/{release.id}"),
            "html_url": f"{self.base_url}/{self.owner_repo}/releases/tag/{release.tag}",
            "assets_url": self.api(f"/releases/{release.id}/assets"),
            "upload_url": f"{self.base_url}/uploads/repos/{self.owner_repo}/releases/{release.id}/assets{{?name,label}}",
            "id": release.id,
            "node_id": f"RE_{release.id}",
            "tag_name": release.tag,
            "target_commitish": "main",
            "name": release.tag,
            "body": "",
            "draft": release.draft,
            "prerelease": False,
            "immutable": release.immutable,
            "created_at": "2025-01-01T00:00:00Z",
            "published_at": None if release.draft else "2025-01-01T00:00:00Z",
            "assets": [self.asset_json(release, a) for a in release.assets.values()],
        }

    def find_asset(self, asset_id: int) -> tuple[FakeRelease, FakeAsset] | None:
        for release in self.releases.values():
            if asset_id in release.assets:
                return release, release.assets[asset_id]
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, **extra: Any) -> None:
        headers = extra.pop("headers", None)
        self._send(
            status,
            {"message": message, "documentation_url": "https://docs.github.com/rest", **extra},
            headers,
        )

    def _file(self, path: Path) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(path.stat().st_size))
        self.end_headers()
        with open(path, "rb") as handle:
            shutil.copyfileobj(handle, self.wfile, 1 << 20)

    def _drain(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        while length > 0:
            length -= len(self.rfile.read(min(length, 1 << 20)))

    def _authorised(self) -> bool:
        auth = self.headers.get("Authorization", "")
        return auth in (f"token {self.server.fake.token}", f"Bearer {self.server.fake.token}")

    def _faults(self) -> bool:
        fake = self.server.fake
        with fake.lock:
            if fake.server_errors > 0:
                fake.server_errors -= 1
                self._drain()
                self._error(500, "Server Error")
                return True
            if fake.rate_limited > 0:
                fake.rate_limited -= 1
                reset = str(int(time.time()) + fake.rate_reset_in)
                headers = {
                    "x-ratelimit-limit": "5000",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": reset,
                }
                self._drain()
                self._error(403, "API rate limit exceeded for user ID 1.", headers=headers)
                return True
            if fake.retry_after > 0:
                fake.retry_after -= 1
                self._drain()
                self._error(403, "You have exceeded a secondary rate limit.", headers={"retry-after": "1"})
                return True
        return False

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        fake = self.server.fake
        fake.requests.append((method, path))
        if path.startswith(f"/{fake.owner_repo}/releases/download/") or path.startswith("/cdn/"):
            return handle_cdn(self, path)
        if path.startswith("/blob/"):
            return handle_blob(self, path)
        if not self._authorised():
            self._drain()
            return self._error(401, "Bad credentials")
        if self._faults():
            return None
        return handle_api(self, method, path, query)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGithub


@contextmanager
def running_github(fake: FakeGithub) -> Iterator[FakeGithub]:
    """Serve ``fake`` on 127.0.0.1 (a free port) for the duration of the block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-github", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
