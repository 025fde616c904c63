"""Looking at what is served: HTTP JSON, appcasts, downloads and real TLS handshakes.

Rules:
- Health endpoints are read as their documents (``get_health``, ``schemas.feedhealth``), never as
  loose JSON.
- Every probe returns a verdict and a short detail instead of raising, so a table can show all
  failures at once; only a programming error escapes.
- TLS is decided by the target's ``secure`` flag, never by the port; the handshake trusts the
  target's CA bundle and checks the host name, exactly as a client would.
- Downloads stream through ``release.outside.stream`` (the one hasher) into nothing: memory stays flat.
- ``Reach`` asks each origin (an HTTPS scheme://host:port, or a gRPC host:port) once per run whether
  it answers at all; a table then shows one row for a side that is down and skips the rows that
  need it, instead of one connection error per row. ``down_fix`` says what to do about it.
- HTTPS trust is decided here and nowhere else (``trust_context``): the target's ``ca_bundle`` when
  it names one (and then only that bundle), else the operating system's trust store through
  truststore (the macOS keychain, Linux's OpenSSL store), so a python.org Python on a Mac, whose
  OpenSSL store is empty until "Install Certificates" runs, verifies like the system does.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import httpx
import truststore

from release.errors import ReleaseError
from release.outside.stream import CHUNK, HashingWriter, Progress, stream_to
from schemas import (
    AppcastError,
    HealthDocument,
    HealthDocumentError,
    SparkleItem,
    Target,
    parse_appcast,
    parse_health,
)
from schemas.sparkle_reader import MAX_APPCAST_BYTES

__all__ = [
    "Reach",
    "down_fix",
    "download_hash",
    "fetch_appcast",
    "get_health",
    "origin",
    "port_answers",
    "port_free",
    "ssl_context",
    "tls_handshake",
    "trust_context",
    "wait_until",
]


def trust_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """The one client-side TLS trust decision: ``ca_bundle`` alone when given, else the OS store."""
    if ca_bundle is not None:
        return ssl.create_default_context(cafile=str(ca_bundle))
    # truststore verifies through the platform's own API (Security.framework on macOS), so neither
    # certifi's snapshot nor an empty OpenSSL store decides; host names are checked as usual.
    return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def ssl_context(target: Target) -> ssl.SSLContext:
    """The trust for every HTTPS client that talks to ``target`` (its ``ca_bundle`` wins); a bundle
    that cannot be read is one line naming it and what to do (the sandbox makes its CA at up)."""
    if not target.ca_bundle:
        return trust_context(None)
    bundle = target.path(target.ca_bundle)
    try:
        return trust_context(bundle)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        fix = down_fix(target) if target.remote.kind == "local" else "fix the target's ca_bundle"
        raise ReleaseError(f"ca_bundle {bundle} cannot be read ({reason}): {fix}") from None


def get_health(http: httpx.Client, url: str, kind: type[HealthDocument]) -> tuple[HealthDocument | None, str]:
    """(the health document ``url`` answers, "ok"), or (None, one line saying why not): a wrong
    document is ``schemas.parse_health``'s line, the same as every other reader's."""
    try:
        response = http.get(url)
    except httpx.HTTPError as exc:
        return None, f"{url}: {type(exc).__name__}: {exc}"[:200]
    if response.status_code != 200:
        return None, f"{url}: HTTP {response.status_code}"
    try:
        return parse_health(kind, url, response.content), "ok"
    except HealthDocumentError as exc:
        return None, str(exc)


def fetch_appcast(http: httpx.Client, url: str) -> tuple[int | None, list[SparkleItem], str]:
    """(status code or None, items, detail); items are empty unless the status was 200.

    The feed is read as a Sparkle client reads it: relative URLs resolve against the URL it was
    served from, and no more than ``MAX_APPCAST_BYTES`` are read from a server that may be hostile.
    """
    try:
        with http.stream("GET", url) as response:
            if response.status_code != 200:
                return response.status_code, [], f"HTTP {response.status_code}"
            body = bytearray()
            for chunk in response.iter_bytes(CHUNK):
                body += chunk
                if len(body) > MAX_APPCAST_BYTES:
                    return 200, [], f"{url}: more than {MAX_APPCAST_BYTES} bytes, not read further"
            served_from = str(response.url)
    except httpx.HTTPError as exc:
        return None, [], f"{url}: {type(exc).__name__}"
    try:
        return 200, parse_appcast(bytes(body), feed_url=served_from), "ok"
    except AppcastError as exc:
        return 200, [], str(exc)[:200]


def download_hash(
    http: httpx.Client, url: str, progress: Progress | None = None, into: BinaryIO | None = None
) -> tuple[str | None, int, str]:
    """(sha256 or None, size, detail) of what ``url`` serves, also written to ``into`` when given."""
    try:
        sha256, size = stream_to(http, url, HashingWriter(into, progress=progress))
    except httpx.HTTPStatusError as exc:
        return None, 0, f"{url}: HTTP {exc.response.status_code}"
    except httpx.HTTPError as exc:
        return None, 0, f"{url}: {type(exc).__name__}"
    return sha256, size, "ok"


def tls_handshake(url: str, context: ssl.SSLContext, timeout_s: float = 10.0) -> tuple[bool, str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 443
    try:
        with (
            socket.create_connection((host, port), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            version = tls.version() or "TLS"
            cert = tls.getpeercert() or {}
    except (OSError, ssl.SSLError) as exc:
        return False, f"{host}:{port}: {type(exc).__name__}: {exc}"[:200]
    alt_names: Any = cert.get("subjectAltName", ())
    names = [str(entry[1]) for entry in alt_names if entry[0] in ("DNS", "IP Address")]
    return True, f"{host}:{port} {version}, certificate for {', '.join(names) or 'unnamed'}"


def port_answers(host: str, port: int, timeout_s: float = 5.0) -> tuple[bool, str]:
    """Whether something accepts a TCP connection there (reachability, before any TLS or HTTP)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True, f"{host}:{port} accepts connections"
    except OSError as exc:
        return False, f"{host}:{port}: {type(exc).__name__}: {exc.strerror or exc}"[:200]


def port_free(host: str, port: int) -> bool:
    """Whether a server could bind there now (with SO_REUSEADDR, as uvicorn and gRPC bind)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def origin(url: str) -> str:
    """``scheme://host:port`` of an HTTP(S) URL; a gRPC ``host:port`` (no scheme) stays as it is."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{parts.hostname}:{parts.port or default}"


@dataclass
class Reach:
    """Which origins answer, each asked once (any HTTP status, or a TCP accept for gRPC, is an answer)."""

    http: httpx.Client
    timeout_s: float = 10.0
    _seen: dict[str, str | None] = field(default_factory=dict)

    def _ask(self, where: str) -> str | None:
        if "://" not in where:
            host, port = where.rsplit(":", 1)
            answered, detail = port_answers(host, int(port), self.timeout_s)
            return None if answered else detail
        try:
            self.http.request("HEAD", where + "/", follow_redirects=False, timeout=self.timeout_s)
        except httpx.TransportError as exc:
            # Refused, timed out, or TLS not trusted: in each case no client gets an answer.
            return f"{type(exc).__name__}: {exc}"[:160]
        return None

    def silent(self, urls: Iterable[str]) -> dict[str, str]:
        """The origins among ``urls`` that did not answer, each with why (asked once per origin)."""
        found: dict[str, str] = {}
        for url in urls:
            where = origin(url)
            if where not in self._seen:
                self._seen[where] = self._ask(where)
            why = self._seen[where]
            if why is not None:
                found[where] = why
        return found


def down_fix(target: Target) -> str:
    """What to do when the target's endpoints do not answer: on the sandbox (local remote), start it."""
    if target.remote.kind == "local":
        return "the sandbox is not running: run ./inv sandbox.up"
    return "check that the VM is running and that the named endpoints answer from here"


def wait_until(
    check: Callable[[], tuple[bool, str]],
    deadline_s: float,
    interval_s: float = 0.25,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, str]:
    """Poll ``check`` until it passes or ``deadline_s`` runs out; the last detail either way."""
    end = monotonic() + deadline_s
    while True:
        ok, detail = check()
        if ok or monotonic() >= end:
            return ok, detail
        sleep(interval_s)
