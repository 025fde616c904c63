"""A fake GitHub on 127.0.0.1 (plain HTTP, free ports), driven by the real PyGithub client.

Rules:
- The state and the documented JSON shapes live in ``github_model``; the routes in ``github_api``;
  this module is the wire: authentication, the fault switches, and serving on loopback.
- Two origins, as on GitHub: the API (and ``github.com``'s public download URLs) on one port, and a
  CDN on another (``objects.githubusercontent.com`` / ``release-assets.githubusercontent.com`` in the
  recordings ``tests/fixtures/recorded/github/asset_download_*``). Downloads are 302 redirects from
  the first to the second. The CDN never needs the token: a request that brings an
  ``Authorization`` header there is refused and logged in ``leaked_auth``, and ``running_github``
  fails the test on the way out if that log is not empty.
- Every request is logged as (method, path) before anything else, including the ones answered 401
  or 404, so a test can prove what was never asked (no release, tag or ref created; nothing aimed at
  another repository); every answer as (method, path, status) in ``answers``, in order.
- Asset bodies stream to files under ``root`` and are hashed while they arrive: memory stays flat.
- Drafts are not found by tag (only in the listing); an ``immutable`` release refuses asset changes.
- Every API answer carries ``X-RateLimit-Limit/Remaining/Reset/Used/Resource`` (as recorded).
- Fault switches (counters on the ``FakeGithub``): ``fail_uploads_midway`` (502 after half the body,
  leaving a ``starter`` asset, as GitHub does), ``stall_uploads`` (the upload lands but the answer
  comes ``stall_s`` late, after the client gave up), ``rate_limited`` (primary limit: 403 with
  ``x-ratelimit-remaining: 0`` and a reset time, as ``primary_rate_limit_403.txt``),
  ``secondary_limits`` (secondary limit: ``secondary_status`` 403 or 429 with GitHub's message, the
  quota not spent, and ``Retry-After`` only if ``secondary_retry_after`` is set, as
  ``secondary_rate_limit_*.txt``; only on ``secondary_method`` requests when that is set: GitHub
  limits content-creating requests the hardest), ``forbidden`` (403 "Resource not accessible by personal access
  token": a permission problem, not a limit), ``server_errors`` (500s), ``asset_get_errors``
  (500s on reading one asset's JSON, as right after an upload), ``stale_cdn_reads`` (the download URL
  keeps serving the old bytes after a replace), ``cut_downloads`` (an asset download announces its
  full length, sends half and hangs up), ``corrupt_uploads`` (the upload is stored with a byte
  flipped, so its digest is not the sent one), ``report_digests`` (False: assets carry no
  ``digest``, like an older GitHub Enterprise).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .github_api import handle_api, handle_blob, handle_cdn, handle_public_download
from .github_model import DOCS, SECONDARY_MESSAGE, FakeAsset, FakeGithub, FakeRelease, TagBurned
from .jsonhttp import JsonHandler, serving

__all__ = ["FakeAsset", "FakeGithub", "FakeRelease", "TagBurned", "running_github"]


class _Handler(JsonHandler):
    server: _Server
    api = True  # False on the CDN origin: no rate-limit headers there

    def response_headers(self) -> dict[str, str]:
        if not self.api:
            return {}
        fake = self.server.fake
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(fake.remaining),
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Used": str(5000 - fake.remaining),
            "X-RateLimit-Resource": "core",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
        }

    def send_response(self, code: int, message: str | None = None) -> None:
        fake = self.server.fake
        with fake.lock:
            fake.answers.append((self.command, unquote(urlsplit(self.path).path), code))
            if self.command in ("POST", "PATCH", "PUT", "DELETE") and code < 300:
                fake.write_times[self.command] = time.monotonic()
        super().send_response(code, message)

    def _error(self, http_status: int, message: str, **extra: Any) -> None:
        headers = extra.pop("headers", None)
        self._send(http_status, {"message": message, "documentation_url": DOCS, **extra}, headers)

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
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Used": "5000",
                    "X-RateLimit-Reset": reset,
                }
                self._drain()
                self._error(403, "API rate limit exceeded for user ID 1.", headers=headers)
                return True
            if fake.secondary_limits > 0 and fake.secondary_method in (None, self.command):
                fake.secondary_limits -= 1
                headers = {}
                if fake.secondary_retry_after is not None:
                    headers["Retry-After"] = fake.secondary_retry_after
                self._drain()
                self._send(
                    fake.secondary_status,
                    {
                        "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/"
                        "rate-limits-for-the-rest-api#about-secondary-rate-limits",
                        "message": SECONDARY_MESSAGE,
                    },
                    headers,
                )
                return True
            if fake.forbidden > 0:
                # A token without the permission: 403, quota left, no rate-limit message.
                fake.forbidden -= 1
                self._drain()
                self._error(403, "Resource not accessible by personal access token")
                return True
            fake.remaining = max(1, fake.remaining - 1)
        return False

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query, keep_blank_values=True)
        fake = self.server.fake
        with fake.lock:
            fake.requests.append((method, path))
        if method == "GET" and path.startswith(f"/{fake.owner_repo}/releases/download/"):
            return handle_public_download(self, path)
        anonymous_read = method == "GET" and "Authorization" not in self.headers
        if not anonymous_read and not self._authorised():
            # The assets repository is public: reads need no token, but a wrong one is refused.
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


class _CdnHandler(_Handler):
    """The second origin: serves asset bytes behind the redirects, and never wants a token."""

    api = False

    def _route(self, method: str) -> None:
        path = unquote(urlsplit(self.path).path)
        fake = self.server.fake
        with fake.lock:
            fake.requests.append((method, path))
            leaked = "Authorization" in self.headers
            if leaked:
                fake.leaked_auth.append(path)
        if leaked:
            # The blob store rejects a second credential; the test fails on the way out anyway.
            return self._send(400, {"message": "Authorization header sent to the CDN"})
        if method == "GET" and path.startswith("/blob/"):
            return handle_blob(self, path)
        if method == "GET" and path.startswith("/cdn/"):
            return handle_cdn(self, path)
        self._drain()
        return self._send(404, {"message": "Not Found"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGithub


@contextmanager
def running_github(fake: FakeGithub) -> Iterator[FakeGithub]:
    """Serve ``fake`` on 127.0.0.1 (two free ports: the API and the CDN) for the duration of the block.

    On the way out, any request that brought a token to the CDN fails the test.
    """
    api = _Server(("127.0.0.1", 0), _Handler)
    cdn = _Server(("127.0.0.1", 0), _CdnHandler)
    api.fake = cdn.fake = fake
    fake.base_url = f"http://127.0.0.1:{api.server_address[1]}"
    fake.cdn_url = f"http://127.0.0.1:{cdn.server_address[1]}"
    with ExitStack() as stack:
        stack.enter_context(serving(api, "fake-github"))
        stack.enter_context(serving(cdn, "fake-github-cdn"))
        yield fake
    if fake.leaked_auth:
        raise AssertionError(f"the token reached the CDN origin, which must never see it: {fake.leaked_auth}")
