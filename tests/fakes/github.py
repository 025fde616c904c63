"""A fake GitHub releases API on 127.0.0.1 (plain HTTP, a free port), driven by the real PyGithub client.

Rules:
- The state and the documented JSON shapes live in ``github_model``; the routes in ``github_api``;
  this module is the wire: authentication, the fault switches, and serving on loopback.
- Every request is logged as (method, path) before anything else, including the ones answered 401
  or 404, so a test can prove what was never asked (no release, tag or ref created; nothing aimed at
  another repository).
- Asset bodies stream to files under ``root`` and are hashed while they arrive: memory stays flat.
- Drafts are not found by tag (only in the listing); an ``immutable`` release refuses asset changes.
- Fault switches (counters on the ``FakeGithub``): ``fail_uploads_midway`` (502 after half the body,
  leaving a ``starter`` asset, as GitHub does), ``stall_uploads`` (the upload lands but the answer
  comes ``stall_s`` late, after the client gave up), ``rate_limited`` (403 with a spent quota and a
  reset time), ``retry_after`` (403 secondary limit with ``Retry-After``), ``server_errors`` (500s),
  ``stale_cdn_reads`` (the download URL keeps serving the old bytes after a replace),
  ``cut_downloads`` (an asset download announces its full length, sends half and hangs up),
  ``corrupt_uploads`` (the upload is stored with a byte flipped, so its digest is not the sent one),
  ``report_digests`` (False: assets carry no ``digest``, like an older GitHub Enterprise).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .github_api import handle_api, handle_blob, handle_cdn
from .github_model import FakeAsset, FakeGithub, FakeRelease
from .jsonhttp import JsonHandler, serving

__all__ = ["FakeAsset", "FakeGithub", "FakeRelease", "running_github"]


class _Handler(JsonHandler):
    server: _Server

    def _error(self, status: int, message: str, **extra: Any) -> None:
        headers = extra.pop("headers", None)
        self._send(
            status,
            {"message": message, "documentation_url": "https://docs.github.com/rest", **extra},
            headers,
        )

    def _file(self, path: Path, cut: bool = False) -> None:
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        with open(path, "rb") as handle:
            if cut:
                self.wfile.write(handle.read(size // 2))
                self.close_connection = True
                return
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
        with fake.lock:
            fake.requests.append((method, path))
        if method == "GET" and (
            path.startswith(f"/{fake.owner_repo}/releases/download/") or path.startswith("/cdn/")
        ):
            return handle_cdn(self, path)
        if method == "GET" and path.startswith("/blob/"):
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

    def do_PUT(self) -> None:
        self._route("PUT")

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
    with serving(server, "fake-github"):
        yield fake
